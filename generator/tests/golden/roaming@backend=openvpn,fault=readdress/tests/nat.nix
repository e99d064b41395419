# The NixOS VM test of the e3 scenario `roaming@backend=openvpn,fault=readdress`: its NAT topology with real
# routers, the `openvpn` overlay, and a run of `rounds` on every party.
# Rendered by e3: do not edit; change the scenario and run `e3 render roaming@backend=openvpn,fault=readdress` again.
#
#   nix build .#checks.x86_64-linux.nat -L    # or `nix flake check`; needs KVM
#
# The result holds e3-summary.json: each site's NAT mapping and filtering,
# each pair's path (direct or relayed), each party's result.
{ pkgs }:
let
  inherit (pkgs) lib;

  # What the test script checks, from the plan (`e3 show roaming@backend=openvpn,fault=readdress`); also
  # `passthru.e3` of the check.
  facts = {
    scenario = "roaming@backend=openvpn,fault=readdress";
    backend = "openvpn";
    program = "rounds";
    port = 11365;
    coordinator = "server";
    relay = "server";
    hub = true;
    expectFailure = null;
    parties = [
      {
        host = "alice";
        index = 0;
        nat = "easy";
        overlay = "10.9.0.1";
        public = "198.18.128.1";
        addresses = [
          "10.128.0.2"
          "198.18.128.1"
        ];
      }
      {
        host = "bob";
        index = 1;
        nat = "none";
        overlay = "10.9.0.2";
        public = "198.18.1.1";
        addresses = [ "198.18.1.1" ];
      }
    ];
    sites = [
      {
        name = "alice";
        nat = "easy";
        router = "alice-router";
        carrier = null;
        public = "198.18.128.1";
        carrierSide = null;
        lan = "10.128.0.0/24";
        hosts = [ "alice" ];
      }
    ];
    internet = [
      {
        host = "bob";
        address = "198.18.1.1";
        ssh = true;
      }
      {
        host = "server";
        address = "198.18.0.1";
        ssh = true;
      }
      {
        host = "alice-router";
        address = "198.18.128.1";
        ssh = false;
      }
    ];
    overlay = [ ];
    routers = [ "alice-router" ];
    shaped = [
      "bob"
      "alice-router"
    ];
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
      program = "rounds";
      args = [
        "--rounds"
        "300"
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

  # The plan's one-way delays (simulation.latency) and loss (simulation.loss),
  # applied by each host on the internet segment (a site's router or carrier
  # for its parties) to what it sends there, per destination.
  netem = interface: script: {
    description = "Latency and loss towards the internet segment";
    wantedBy = [ "multi-user.target" ];
    after = [ "network-addresses-${interface}.service" ];
    wants = [ "network-addresses-${interface}.service" ];
    path = [ pkgs.iproute2 ];
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
    };
    inherit script;
  };
in
pkgs.testers.runNixOSTest {
  name = "e3-roaming-backend=openvpn-fault=readdress";

  # Addresses, gateways and routes are the plan's, set per node below; no DHCP
  # on QEMU's user-mode network.
  defaults.networking.useDHCP = false;

  nodes = {
    alice = {
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

      e3.openvpn = {
        enable = true;
        role = "client";
        server = "198.18.0.1";
      };

      e3.party = {
        enable = true;
        index = 0;
      };
    };

    bob = {
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
      systemd.services.e3-netem = netem "eth1" ''
        tc qdisc replace dev eth1 root handle 1: htb default 10
        tc class add dev eth1 parent 1: classid 1:10 htb rate 10gbit quantum 1514
        tc class add dev eth1 parent 1: classid 1:11 htb rate 10gbit quantum 1514
        tc qdisc add dev eth1 parent 1:11 handle 11: netem delay 5ms
        tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip dst 198.18.128.1/32 flowid 1:11
      '';

      e3.openvpn = {
        enable = true;
        role = "client";
        server = "198.18.0.1";
      };

      e3.party = {
        enable = true;
        index = 1;
      };
    };

    server = {
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

      e3.openvpn = {
        enable = true;
        role = "server";
        address = "10.9.255.1";
        clients = {
          alice = "10.9.0.1";
          bob = "10.9.0.2";
        };
      };
    };

    alice-router = {
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
      systemd.services.e3-netem = netem "wan" ''
        tc qdisc replace dev wan root handle 1: htb default 10
        tc class add dev wan parent 1: classid 1:10 htb rate 10gbit quantum 1514
        tc class add dev wan parent 1: classid 1:11 htb rate 10gbit quantum 1514
        tc qdisc add dev wan parent 1:11 handle 11: netem delay 5ms
        tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.1.1/32 flowid 1:11
      '';

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
        (lib.getExe pkgs.openssl)
      ]
      (builtins.readFile ./nat.py);
}
