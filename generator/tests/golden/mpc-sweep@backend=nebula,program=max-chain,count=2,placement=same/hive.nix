# Colmena hive of the e3 scenario `mpc-sweep@backend=nebula,program=max-chain,count=2,placement=same`:
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
# from $E3_SECRETS: the directory `e3 keys mpc-sweep@backend=nebula,program=max-chain,count=2,placement=same` wrote,
# secrets/mpc-sweep@backend=nebula,program=max-chain,count=2,placement=same under the directory it was run in.
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
      "exec cat -- \"\${E3_SECRETS:?set E3_SECRETS to the secrets directory of this scenario (e3 keys mpc-sweep@backend=nebula,program=max-chain,count=2,placement=same writes secrets/mpc-sweep@backend=nebula,program=max-chain,count=2,placement=same)}/$0\""
      file
    ];
  };
in
{
  meta = {
    description = "e3 scenario mpc-sweep@backend=nebula,program=max-chain,count=2,placement=same";
    nixpkgs = import nixpkgs { system = "x86_64-linux"; };
  };

  p-0 = {
    imports = [ ./hosts/p-0.nix ];

    deployment = {
      targetHost = addresses.p-0;
      targetUser = "root";
      tags = [
        "region-ams3"
        "platform-digitalocean"
        "backend-nebula"
        "role-party"
      ];
      keys = {
        "nebula-ca.crt" = secret "nebula/ca.crt";
        "nebula-host.crt" = secret "nebula/p-0.crt";
        "nebula-host.key" = secret "nebula/p-0.key";
      };
    };
  };

  p-1 = {
    imports = [ ./hosts/p-1.nix ];

    deployment = {
      targetHost = addresses.p-1;
      targetUser = "root";
      tags = [
        "region-ams3"
        "platform-digitalocean"
        "backend-nebula"
        "role-party"
      ];
      keys = {
        "nebula-ca.crt" = secret "nebula/ca.crt";
        "nebula-host.crt" = secret "nebula/p-1.crt";
        "nebula-host.key" = secret "nebula/p-1.key";
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
}
