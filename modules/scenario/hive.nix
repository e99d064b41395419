# The Colmena hive of a rendered scenario, from its data. Without `nixpkgs`
# it fetches the nixpkgs pinned in the rendered flake.lock itself.
#
# Secrets never enter the rendered directory or the Nix store: Colmena runs
# each key's command on the deploying machine at upload time, reading the
# file from $E3_SECRETS: the directory `e3 keys NAME` wrote, secrets/NAME
# under the directory it was run in.
{
  nixpkgs ? null,
  root,
}:
let
  scenario = import ./. { inherit root; };
  inherit (scenario)
    data
    hosts
    addresses
    attrsOf
    ;

  lock = (builtins.fromJSON (builtins.readFile (root + "/flake.lock"))).nodes.nixpkgs.locked;
  pinned =
    if nixpkgs != null then
      nixpkgs
    else
      fetchTarball {
        url = "https://github.com/${lock.owner}/${lock.repo}/archive/${lock.rev}.tar.gz";
        sha256 = lock.narHash;
      };

  secret = file: {
    keyCommand = [
      "sh"
      "-c"
      "exec cat -- \"\${E3_SECRETS:?set E3_SECRETS to the secrets directory of this scenario (e3 keys ${data.scenario} writes secrets/${data.scenario})}/$0\""
      file
    ];
  };

  node =
    name:
    let
      inherit (hosts.${name}.deploy) hive;
    in
    {
      imports = [ ./host.nix ];

      deployment = {
        targetHost = addresses.${name};
        inherit (hive) targetUser tags;
        keys = builtins.mapAttrs (_: secret) hive.keys;
      }
      # Behind NAT: reached at its private address through its router (and,
      # behind a carrier, through the carrier first).
      // (
        if hive ? jump then
          {
            sshOptions = [
              "-o"
              "ProxyJump=${builtins.concatStringsSep "," (map (j: "root@${addresses.${j}}") hive.jump)}"
            ];
          }
        else
          { }
      )
      # aarch64: built on the Pi itself, not on the x86_64 deployer (no
      # emulation needed; see modules/platforms/raspberry-pi.nix).
      // (if hive.buildOnTarget or false then { buildOnTarget = true; } else { });
    };

  otherSystems = builtins.filter (name: hosts.${name}.deploy.system != null) data.nodes;
in
{
  meta = {
    description = "e3 scenario ${data.scenario}";
    nixpkgs = import pinned { system = "x86_64-linux"; };
    nodeNixpkgs = attrsOf (name: import pinned { inherit (hosts.${name}.deploy) system; }) otherSystems;
    specialArgs.e3Scenario = scenario;
    nodeSpecialArgs = attrsOf (name: { e3Host = name; }) data.nodes;
  };
}
// attrsOf node data.nodes
