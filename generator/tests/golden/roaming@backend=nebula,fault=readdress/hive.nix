# Colmena hive of the e3 scenario `roaming@backend=nebula,fault=readdress`:
#
#   E3_SECRETS=/path/to/secrets/NAME colmena apply -f hive.nix
#
# A plain (non-flake) hive: it fetches the nixpkgs pinned in flake.lock
# itself, and reads hosts.json from the working tree (untracked files are
# fine here; flakes only see files added to git). The flake passes its own
# nixpkgs input instead (`outputs.colmena`).
#
# Secrets never enter this directory or the Nix store: Colmena runs each
# key's command on the deploying machine at upload time, reading the file
# from $E3_SECRETS: the directory `e3 keys roaming@backend=nebula,fault=readdress` wrote,
# secrets/roaming@backend=nebula,fault=readdress under the directory it was run in.
{
  nixpkgs ? fetchTarball {
    url = "https://github.com/NixOS/nixpkgs/archive/8fd9daa3db09ced9700431c5b7ad0e8ba199b575.tar.gz";
    sha256 = "sha256-Ti+ZBvW6yrWWAg2szExVTwCd4qOJ3KlVr1tFHfyfi8Q=";
  },
}:
let
  addresses = import ./addresses.nix;

  secret = file: {
    keyCommand = [
      "sh"
      "-c"
      "exec cat -- \"\${E3_SECRETS:?set E3_SECRETS to the secrets directory of this scenario (e3 keys roaming@backend=nebula,fault=readdress writes secrets/roaming@backend=nebula,fault=readdress)}/$0\""
      file
    ];
  };
in
{
  meta = {
    description = "e3 scenario roaming@backend=nebula,fault=readdress";
    nixpkgs = import nixpkgs { system = "x86_64-linux"; };
  };

  alice = {
    imports = [ ./hosts/alice.nix ];

    deployment = {
      targetHost = addresses.alice;
      targetUser = "root";
      sshOptions = [
        "-o"
        "ProxyJump=root@${addresses.alice-router}"
      ];
      tags = [
        "region-ams3"
        "platform-digitalocean"
        "backend-nebula"
        "role-party"
      ];
      keys = {
        "nebula-ca.crt" = secret "nebula/ca.crt";
        "nebula-host.crt" = secret "nebula/alice.crt";
        "nebula-host.key" = secret "nebula/alice.key";
      };
    };
  };

  bob = {
    imports = [ ./hosts/bob.nix ];

    deployment = {
      targetHost = addresses.bob;
      targetUser = "root";
      tags = [
        "region-ams3"
        "platform-digitalocean"
        "backend-nebula"
        "role-party"
      ];
      keys = {
        "nebula-ca.crt" = secret "nebula/ca.crt";
        "nebula-host.crt" = secret "nebula/bob.crt";
        "nebula-host.key" = secret "nebula/bob.key";
      };
    };
  };

  lighthouse = {
    imports = [ ./hosts/lighthouse.nix ];

    deployment = {
      targetHost = addresses.lighthouse;
      targetUser = "root";
      tags = [
        "region-ams3"
        "platform-digitalocean"
        "backend-nebula"
        "role-lighthouse"
      ];
      keys = {
        "nebula-ca.crt" = secret "nebula/ca.crt";
        "nebula-host.crt" = secret "nebula/lighthouse.crt";
        "nebula-host.key" = secret "nebula/lighthouse.key";
      };
    };
  };

  alice-router = {
    imports = [ ./hosts/alice-router.nix ];

    deployment = {
      targetHost = addresses.alice-router;
      targetUser = "root";
      tags = [
        "region-ams3"
        "platform-digitalocean"
        "backend-nebula"
        "role-router"
      ];
    };
  };
}
