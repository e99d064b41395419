# The NixOS VM test of the e3 scenario `direct-lan`: its NAT topology with real
# routers, plain TCP between the parties (expected to fail across NAT), and a run of `secure-sum` on every party.
# Rendered by e3: do not edit; change the scenario and run `e3 render direct-lan` again.
#
#   nix build .#checks.x86_64-linux.nat -L    # or `nix flake check`; needs KVM
#
# The result holds e3-summary.json: each site's NAT mapping and filtering,
# each pair's path (direct or relayed), each party's result.
{ pkgs }:
let
  inherit (pkgs) lib;

  # What the test script checks, from the plan (`e3 show direct-lan`); also
  # `passthru.e3` of the check.
  facts = {
    scenario = "direct-lan";
    backend = "direct";
    program = "secure-sum";
    port = 11365;
    coordinator = null;
    relay = null;
    hub = false;
    expectFailure = {
      router = "home-router";
      reason = "party #1 `home` is behind `easy` NAT (endpoint-independent mapping, address-and-port-dependent filtering; router `home-router`, public address 198.18.128.1): party #0 must open TCP connections to 198.18.128.1:11365, which plain TCP cannot do across this NAT; use an overlay backend";
    };
    parties = [
      {
        host = "cloud";
        index = 0;
        nat = "none";
        overlay = null;
        public = "198.18.1.1";
        addresses = [ "198.18.1.1" ];
      }
      {
        host = "home";
        index = 1;
        nat = "easy";
        overlay = null;
        public = "198.18.128.1";
        addresses = [
          "10.128.0.2"
          "198.18.128.1"
        ];
      }
    ];
    sites = [
      {
        name = "home";
        nat = "easy";
        router = "home-router";
        carrier = null;
        public = "198.18.128.1";
        carrierSide = null;
        lan = "10.128.0.0/24";
        hosts = [ "home" ];
      }
    ];
    internet = [
      {
        host = "cloud";
        address = "198.18.1.1";
        ssh = true;
      }
      {
        host = "home-router";
        address = "198.18.128.1";
        ssh = false;
      }
    ];
    overlay = [ ];
    routers = [ "home-router" ];
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
    # Plain TCP to the parties' public addresses: fails for a party
    # behind NAT, which is the point of this baseline.
    e3.party = {
      parties = [
        "198.18.1.1:11365"
        "198.18.128.1:11365"
      ];
      program = "secure-sum";
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

  # A home router or carrier: forwarding, and its NAT as nftables rules (the
  # rules `e3 sim` loads), which are its whole filter: no NixOS firewall.
  router =
    { pkgs, ... }:
    {
      boot.kernel.sysctl."net.ipv4.ip_forward" = 1;
      networking.firewall.enable = false;
      networking.nftables.enable = true;
      environment.systemPackages = [ pkgs.conntrack-tools ];
      virtualisation.memorySize = 512;
    };
in
pkgs.testers.runNixOSTest {
  name = "e3-direct-lan";

  # Addresses, gateways and routes are the plan's, set per node below; no DHCP
  # on QEMU's user-mode network.
  defaults.networking.useDHCP = false;

  nodes = {
    cloud = {
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

      e3.direct.enable = true;

      e3.party = {
        enable = true;
        index = 0;
      };
    };

    home = {
      imports = [ party ];
      virtualisation.interfaces = {
        eth1.vlan = 2;
      };
      networking.interfaces = {
        eth1.ipv4.addresses = [
          {
            address = "10.128.0.2";
            prefixLength = 24;
          }
        ];
      };
      networking.defaultGateway = {
        address = "10.128.0.1";
        interface = "eth1";
      };

      e3.direct.enable = true;

      e3.party = {
        enable = true;
        index = 1;
      };
    };

    home-router = {
      imports = [ router ];
      virtualisation.interfaces = {
        wan.vlan = 1;
        lan.vlan = 2;
      };
      networking.interfaces = {
        wan.ipv4.addresses = [
          {
            address = "198.18.128.1";
            prefixLength = 16;
          }
        ];
        lan.ipv4.addresses = [
          {
            address = "10.128.0.1";
            prefixLength = 24;
          }
        ];
      };

      # `easy` NAT: endpoint-independent mapping, address-and-port-dependent filtering.
      networking.nftables.tables.e3 = {
        family = "ip";
        content = ''
          counter unsolicited { }
          chain input {
            type filter hook input priority 0; policy accept;
            iifname "wan" ct state established,related accept
            iifname "wan" counter name "unsolicited" drop
          }
          chain forward {
            type filter hook forward priority 0; policy accept;
            ct state established,related accept
            iifname "lan" accept
            iifname "wan" counter name "unsolicited" drop
          }
          chain post {
            type nat hook postrouting priority srcnat; policy accept;
            oifname "wan" masquerade
          }
        '';
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
        "nebula-cert"
        "openssl"
      ]
      (builtins.readFile ./nat.py);
}
