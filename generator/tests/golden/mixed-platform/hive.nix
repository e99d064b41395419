# Colmena hive of the e3 scenario `mixed-platform`:
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
# from $E3_SECRETS: the directory `e3 keys mixed-platform` wrote,
# secrets/mixed-platform under the directory it was run in.
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
      "exec cat -- \"\${E3_SECRETS:?set E3_SECRETS to the secrets directory of this scenario (e3 keys mixed-platform writes secrets/mixed-platform)}/$0\""
      file
    ];
  };
in
{
  meta = {
    description = "e3 scenario mixed-platform";
    nixpkgs = import nixpkgs { system = "x86_64-linux"; };
    nodeNixpkgs = {
      pi = import nixpkgs { system = "aarch64-linux"; };
    };
  };

  do-ams = {
    imports = [ ./hosts/do-ams.nix ];

    deployment = {
      targetHost = addresses.do-ams;
      targetUser = "root";
      tags = [
        "region-ams3"
        "platform-digitalocean"
        "backend-nebula"
        "role-party"
      ];
      keys = {
        "nebula-ca.crt" = secret "nebula/ca.crt";
        "nebula-host.crt" = secret "nebula/do-ams.crt";
        "nebula-host.key" = secret "nebula/do-ams.key";
      };
    };
  };

  hz-fsn = {
    imports = [ ./hosts/hz-fsn.nix ];

    deployment = {
      targetHost = addresses.hz-fsn;
      targetUser = "root";
      tags = [
        "region-fsn1"
        "platform-hetzner"
        "backend-nebula"
        "role-party"
      ];
      keys = {
        "nebula-ca.crt" = secret "nebula/ca.crt";
        "nebula-host.crt" = secret "nebula/hz-fsn.crt";
        "nebula-host.key" = secret "nebula/hz-fsn.key";
      };
    };
  };

  pi = {
    imports = [ ./hosts/pi.nix ];

    deployment = {
      targetHost = addresses.pi;
      targetUser = "root";
      # aarch64: built on the Pi itself, not on the x86_64 deployer (no
      # emulation needed; see modules/platforms/raspberry-pi.nix).
      buildOnTarget = true;
      tags = [
        "region-ams3"
        "platform-raspberry-pi"
        "backend-nebula"
        "role-party"
      ];
      keys = {
        "nebula-ca.crt" = secret "nebula/ca.crt";
        "nebula-host.crt" = secret "nebula/pi.crt";
        "nebula-host.key" = secret "nebula/pi.key";
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
