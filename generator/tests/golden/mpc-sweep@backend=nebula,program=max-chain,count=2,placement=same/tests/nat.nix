# The NixOS VM test of the e3 scenario `mpc-sweep@backend=nebula,program=max-chain,count=2,placement=same`: its NAT topology with real
# routers, the `nebula` overlay, and a run of `max-chain` on every party.
# Rendered by e3: do not edit; change the scenario and run `e3 render mpc-sweep@backend=nebula,program=max-chain,count=2,placement=same` again.
#
#   nix build .#checks.x86_64-linux.nat -L    # or `nix flake check`; needs KVM
#
# The result holds e3-summary.json: each site's NAT mapping and filtering,
# each pair's path (direct or relayed), each party's result.
{ pkgs }:
let
  inherit (pkgs) lib;

  # What the test script checks, from the plan (`e3 show mpc-sweep@backend=nebula,program=max-chain,count=2,placement=same`); also
  # `passthru.e3` of the check.
  facts = {
    scenario = "mpc-sweep@backend=nebula,program=max-chain,count=2,placement=same";
    backend = "nebula";
    program = "max-chain";
    port = 11365;
    coordinator = "lighthouse";
    relay = "lighthouse";
    hub = false;
    expectFailure = null;
    parties = [
      {
        host = "p-0";
        index = 0;
        nat = "none";
        overlay = "10.9.0.1";
        public = "198.18.1.1";
        addresses = [ "198.18.1.1" ];
      }
      {
        host = "p-1";
        index = 1;
        nat = "none";
        overlay = "10.9.0.2";
        public = "198.18.1.2";
        addresses = [ "198.18.1.2" ];
      }
    ];
    sites = [ ];
    internet = [
      {
        host = "p-0";
        address = "198.18.1.1";
        ssh = true;
      }
      {
        host = "p-1";
        address = "198.18.1.2";
        ssh = true;
      }
      {
        host = "lighthouse";
        address = "198.18.0.1";
        ssh = true;
      }
    ];
    overlay = [
      {
        host = "lighthouse";
        cidr = "10.9.255.1/16";
      }
      {
        host = "p-0";
        cidr = "10.9.0.1/16";
      }
      {
        host = "p-1";
        cidr = "10.9.0.2/16";
      }
    ];
    routers = [ ];
    shaped = [ ];
  };

  # Every host that runs e3's NixOS modules, as hosts/common.nix deploys it,
  # with nixpkgs' throwaway test SSH key (the driver reaches the VMs through
  # its backdoor shell, not SSH).
  e3Host = {
    imports = [ ../modules ];

    e3.common.enable = true;
    e3.sshKeys = [ (import "${pkgs.path}/nixos/tests/ssh-keys.nix" pkgs).snakeOilPublicKey ];

    # The computation: every party runs the same program with the same ordered
    # party list; each party's node enables it and sets the party's index.
    e3.party = {
      parties = [
        "10.9.0.1:11365"
        "10.9.0.2:11365"
      ];
      program = "max-chain";
      args = [
        "--steps"
        "6"
      ];
    };
  };

  # A party: e3's modules, and the tools the script probes NAT mappings and
  # paths with.
  party =
    { pkgs, ... }:
    {
      imports = [ e3Host ];
      environment.systemPackages = [
        pkgs.conntrack-tools
        pkgs.socat
      ];
    };
in
pkgs.testers.runNixOSTest {
  name = "e3-mpc-sweep-backend=nebula-program=max-chain-count=2-placement=same";

  # Addresses, gateways and routes are the plan's, set per node below; no DHCP
  # on QEMU's user-mode network.
  defaults.networking.useDHCP = false;

  nodes = {
    p-0 = {
      imports = [ party ];
      virtualisation.interfaces = {
        eth1.vlan = 1;
      };
      networking.interfaces = {
        eth1.ipv4.addresses = [
          {
            address = "198.18.1.1";
            prefixLength = 16;
          }
        ];
      };

      e3.nebula = {
        enable = true;
        lighthouses = {
          "10.9.255.1" = [ "198.18.0.1:4242" ];
        };
        relays = [ "10.9.255.1" ];
      };

      e3.party = {
        enable = true;
        index = 0;
      };
    };

    p-1 = {
      imports = [ party ];
      virtualisation.interfaces = {
        eth1.vlan = 1;
      };
      networking.interfaces = {
        eth1.ipv4.addresses = [
          {
            address = "198.18.1.2";
            prefixLength = 16;
          }
        ];
      };

      e3.nebula = {
        enable = true;
        lighthouses = {
          "10.9.255.1" = [ "198.18.0.1:4242" ];
        };
        relays = [ "10.9.255.1" ];
      };

      e3.party = {
        enable = true;
        index = 1;
      };
    };

    lighthouse = {
      imports = [ e3Host ];
      virtualisation.interfaces = {
        eth1.vlan = 1;
      };
      networking.interfaces = {
        eth1.ipv4.addresses = [
          {
            address = "198.18.0.1";
            prefixLength = 16;
          }
        ];
      };

      e3.nebula = {
        enable = true;
        isLighthouse = true;
        isRelay = true;
      };
    };
  };

  passthru.e3 = facts;

  testScript =
    { nodes, ... }:
    let
      # The facts above, and each host's overlay units as e3's modules set them.
      factsFile = pkgs.writeText "e3-facts.json" (
        builtins.toJSON (facts // { units = lib.mapAttrs (_: node: node.e3.overlay.units or [ ]) nodes; })
      );
    in
    # The script is the same for every scenario; the facts tell it this one.
    builtins.replaceStrings
      [
        "@FACTS_FILE@"
        "@NEBULA_CERT@"
        "@OPENSSL@"
      ]
      [
        "${factsFile}"
        (lib.getExe' pkgs.nebula "nebula-cert")
        "openssl"
      ]
      (builtins.readFile ./nat.py);
}
