# Colmena hive of the e3 scenario `wireguard-hub`:
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
# from $E3_SECRETS: the directory `e3 keys wireguard-hub` wrote,
# secrets/wireguard-hub under the directory it was run in.
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
      "exec cat -- \"\${E3_SECRETS:?set E3_SECRETS to the secrets directory of this scenario (e3 keys wireguard-hub writes secrets/wireguard-hub)}/$0\""
      file
    ];
  };
in
{
  meta = {
    description = "e3 scenario wireguard-hub";
    nixpkgs = import nixpkgs { system = "x86_64-linux"; };
  };

  fsn = {
    imports = [ ./hosts/fsn.nix ];

    deployment = {
      targetHost = addresses.fsn;
      targetUser = "root";
      sshOptions = [
        "-o"
        "ProxyJump=root@${addresses.fsn-router}"
      ];
      tags = [
        "region-fsn1"
        "platform-hetzner"
        "backend-wireguard"
        "role-party"
      ];
      keys = {
        "wireguard.key" = secret "wireguard/fsn.key";
      };
    };
  };

  hel = {
    imports = [ ./hosts/hel.nix ];

    deployment = {
      targetHost = addresses.hel;
      targetUser = "root";
      sshOptions = [
        "-o"
        "ProxyJump=root@${addresses.hel-router}"
      ];
      tags = [
        "region-hel1"
        "platform-hetzner"
        "backend-wireguard"
        "role-party"
      ];
      keys = {
        "wireguard.key" = secret "wireguard/hel.key";
      };
    };
  };

  nbg = {
    imports = [ ./hosts/nbg.nix ];

    deployment = {
      targetHost = addresses.nbg;
      targetUser = "root";
      sshOptions = [
        "-o"
        "ProxyJump=root@${addresses.nbg-carrier},root@${addresses.nbg-router}"
      ];
      tags = [
        "region-nbg1"
        "platform-hetzner"
        "backend-wireguard"
        "role-party"
      ];
      keys = {
        "wireguard.key" = secret "wireguard/nbg.key";
      };
    };
  };

  hub = {
    imports = [ ./hosts/hub.nix ];

    deployment = {
      targetHost = addresses.hub;
      targetUser = "root";
      tags = [
        "region-fsn1"
        "platform-hetzner"
        "backend-wireguard"
        "role-hub"
      ];
      keys = {
        "wireguard.key" = secret "wireguard/hub.key";
      };
    };
  };

  fsn-router = {
    imports = [ ./hosts/fsn-router.nix ];

    deployment = {
      targetHost = addresses.fsn-router;
      targetUser = "root";
      tags = [
        "region-fsn1"
        "platform-hetzner"
        "backend-wireguard"
        "role-router"
      ];
    };
  };

  hel-router = {
    imports = [ ./hosts/hel-router.nix ];

    deployment = {
      targetHost = addresses.hel-router;
      targetUser = "root";
      tags = [
        "region-hel1"
        "platform-hetzner"
        "backend-wireguard"
        "role-router"
      ];
    };
  };

  nbg-carrier = {
    imports = [ ./hosts/nbg-carrier.nix ];

    deployment = {
      targetHost = addresses.nbg-carrier;
      targetUser = "root";
      tags = [
        "region-nbg1"
        "platform-hetzner"
        "backend-wireguard"
        "role-carrier"
      ];
    };
  };

  nbg-router = {
    imports = [ ./hosts/nbg-router.nix ];

    deployment = {
      targetHost = addresses.nbg-router;
      targetUser = "root";
      sshOptions = [
        "-o"
        "ProxyJump=root@${addresses.nbg-carrier}"
      ];
      tags = [
        "region-nbg1"
        "platform-hetzner"
        "backend-wireguard"
        "role-router"
      ];
    };
  };
}
