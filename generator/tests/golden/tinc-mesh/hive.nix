# Colmena hive of the e3 scenario `tinc-mesh`:
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
# from $E3_SECRETS: the directory `e3 keys tinc-mesh` wrote,
# secrets/tinc-mesh under the directory it was run in.
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
      "exec cat -- \"\${E3_SECRETS:?set E3_SECRETS to the secrets directory of this scenario (e3 keys tinc-mesh writes secrets/tinc-mesh)}/$0\""
      file
    ];
  };
in
{
  meta = {
    description = "e3 scenario tinc-mesh";
    nixpkgs = import nixpkgs { system = "x86_64-linux"; };
  };

  lab-0 = {
    imports = [ ./hosts/lab-0.nix ];

    deployment = {
      targetHost = addresses.lab-0;
      targetUser = "root";
      sshOptions = [
        "-o"
        "ProxyJump=root@${addresses.campus-router}"
      ];
      tags = [
        "region-nbg1"
        "platform-hetzner"
        "backend-tinc"
        "role-party"
      ];
      keys = {
        "tinc-rsa.priv" = secret "tinc/lab-0.priv";
      };
    };
  };

  lab-1 = {
    imports = [ ./hosts/lab-1.nix ];

    deployment = {
      targetHost = addresses.lab-1;
      targetUser = "root";
      sshOptions = [
        "-o"
        "ProxyJump=root@${addresses.campus-router}"
      ];
      tags = [
        "region-nbg1"
        "platform-hetzner"
        "backend-tinc"
        "role-party"
      ];
      keys = {
        "tinc-rsa.priv" = secret "tinc/lab-1.priv";
      };
    };
  };

  ash = {
    imports = [ ./hosts/ash.nix ];

    deployment = {
      targetHost = addresses.ash;
      targetUser = "root";
      sshOptions = [
        "-o"
        "ProxyJump=root@${addresses.ash-router}"
      ];
      tags = [
        "region-ash"
        "platform-hetzner"
        "backend-tinc"
        "role-party"
      ];
      keys = {
        "tinc-rsa.priv" = secret "tinc/ash.priv";
      };
    };
  };

  hel = {
    imports = [ ./hosts/hel.nix ];

    deployment = {
      targetHost = addresses.hel;
      targetUser = "root";
      tags = [
        "region-hel1"
        "platform-hetzner"
        "backend-tinc"
        "role-party"
      ];
      keys = {
        "tinc-rsa.priv" = secret "tinc/hel.priv";
      };
    };
  };

  bootstrap = {
    imports = [ ./hosts/bootstrap.nix ];

    deployment = {
      targetHost = addresses.bootstrap;
      targetUser = "root";
      tags = [
        "region-nbg1"
        "platform-hetzner"
        "backend-tinc"
        "role-bootstrap"
      ];
      keys = {
        "tinc-rsa.priv" = secret "tinc/bootstrap.priv";
      };
    };
  };

  campus-router = {
    imports = [ ./hosts/campus-router.nix ];

    deployment = {
      targetHost = addresses.campus-router;
      targetUser = "root";
      tags = [
        "region-nbg1"
        "platform-hetzner"
        "backend-tinc"
        "role-router"
      ];
    };
  };

  ash-router = {
    imports = [ ./hosts/ash-router.nix ];

    deployment = {
      targetHost = addresses.ash-router;
      targetUser = "root";
      tags = [
        "region-ash"
        "platform-hetzner"
        "backend-tinc"
        "role-router"
      ];
    };
  };
}
