# The NixOS VM test of the e3 scenario `wireguard-hub`: its NAT topology with real
# routers, the `wireguard` overlay, and a run of `millionaires` on every party.
# Rendered by e3: do not edit; change the scenario and run `e3 render wireguard-hub` again.
#
#   nix build .#checks.x86_64-linux.nat -L    # or `nix flake check`; needs KVM
#
# The result holds e3-summary.json: each site's NAT mapping and filtering,
# each pair's path (direct or relayed), each party's result.
{ pkgs }:
let
  inherit (pkgs) lib;

  # What the test script checks, from the plan (`e3 show wireguard-hub`); also
  # `passthru.e3` of the check.
  facts = {
    scenario = "wireguard-hub";
    backend = "wireguard";
    program = "millionaires";
    port = 11365;
    coordinator = "hub";
    relay = "hub";
    hub = true;
    expectFailure = null;
    parties = [
      {
        host = "fsn";
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
        host = "hel";
        index = 1;
        nat = "hard";
        overlay = "10.9.0.2";
        public = "198.18.128.2";
        addresses = [
          "10.128.1.2"
          "198.18.128.2"
        ];
      }
      {
        host = "nbg";
        index = 2;
        nat = "cgnat";
        overlay = "10.9.0.3";
        public = "198.18.128.3";
        addresses = [
          "10.128.2.2"
          "198.18.128.3"
        ];
      }
    ];
    sites = [
      {
        name = "fsn";
        nat = "easy";
        router = "fsn-router";
        carrier = null;
        public = "198.18.128.1";
        carrierSide = null;
        lan = "10.128.0.0/24";
        hosts = [ "fsn" ];
      }
      {
        name = "hel";
        nat = "hard";
        router = "hel-router";
        carrier = null;
        public = "198.18.128.2";
        carrierSide = null;
        lan = "10.128.1.0/24";
        hosts = [ "hel" ];
      }
      {
        name = "nbg";
        nat = "cgnat";
        router = "nbg-router";
        carrier = "nbg-carrier";
        public = "198.18.128.3";
        carrierSide = "100.64.0.2";
        lan = "10.128.2.0/24";
        hosts = [ "nbg" ];
      }
    ];
    internet = [
      {
        host = "hub";
        address = "198.18.0.1";
        ssh = true;
      }
      {
        host = "fsn-router";
        address = "198.18.128.1";
        ssh = false;
      }
      {
        host = "hel-router";
        address = "198.18.128.2";
        ssh = false;
      }
      {
        host = "nbg-carrier";
        address = "198.18.128.3";
        ssh = false;
      }
    ];
    overlay = [ ];
    routers = [
      "fsn-router"
      "hel-router"
      "nbg-carrier"
      "nbg-router"
    ];
    shaped = [
      "hub"
      "fsn-router"
      "hel-router"
      "nbg-carrier"
    ];
  };

  # Throwaway overlay keys, made at build time for this test alone (never the
  # scenario's secrets/). The hosts' configurations need the public halves, so
  # they are read during evaluation (import from derivation).
  testKeys =
    let
      keys = pkgs.runCommand "e3-test-keys" { nativeBuildInputs = [ pkgs.wireguard-tools ]; } ''
        mkdir -p $out/wireguard
        for host in fsn hel nbg hub; do
          wg genkey | tee $out/wireguard/$host.key | wg pubkey > $out/wireguard/$host.pub
        done
      '';
    in
    {
      wireguard = host: lib.fileContents "${keys}/wireguard/${host}.pub";
      private = host: "${keys}/wireguard/${host}.key";
    };

  # Colmena uploads a host's keys before activation; here the throwaway key
  # is installed before the overlay's units start.
  installKey =
    path: source:
    { config, ... }:
    {
      systemd.services.e3-test-key = {
        description = "Install the VM test's throwaway overlay key";
        before = config.e3.overlay.units;
        requiredBy = config.e3.overlay.units;
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
        };
        script = "install -D -m 0600 ${source} ${path}";
      };
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
        "10.9.0.3:11365"
      ];
      program = "millionaires";
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
  name = "e3-wireguard-hub";

  # Addresses, gateways and routes are the plan's, set per node below; no DHCP
  # on QEMU's user-mode network.
  defaults.networking.useDHCP = false;

  nodes = {
    fsn = {
      imports = [
        party
        (installKey "/run/keys/wireguard.key" (testKeys.private "fsn"))
      ];
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

      e3.wireguard = {
        enable = true;
        role = "spoke";
        address = "10.9.0.1/16";
        peers.hub = {
          publicKey = testKeys.wireguard "hub";
          allowedIPs = [ "10.9.0.0/16" ];
          endpoint = "198.18.0.1:51820";
        };
      };

      e3.party = {
        enable = true;
        index = 0;
      };
    };

    hel = {
      imports = [
        party
        (installKey "/run/keys/wireguard.key" (testKeys.private "hel"))
      ];
      virtualisation.interfaces = {
        eth1.vlan = 3;
      };
      networking.interfaces = {
        eth1.ipv4.addresses = [
          {
            address = "10.128.1.2";
            prefixLength = 24;
          }
        ];
      };
      networking.defaultGateway = {
        address = "10.128.1.1";
        interface = "eth1";
      };

      e3.wireguard = {
        enable = true;
        role = "spoke";
        address = "10.9.0.2/16";
        peers.hub = {
          publicKey = testKeys.wireguard "hub";
          allowedIPs = [ "10.9.0.0/16" ];
          endpoint = "198.18.0.1:51820";
        };
      };

      e3.party = {
        enable = true;
        index = 1;
      };
    };

    nbg = {
      imports = [
        party
        (installKey "/run/keys/wireguard.key" (testKeys.private "nbg"))
      ];
      virtualisation.interfaces = {
        eth1.vlan = 4;
      };
      networking.interfaces = {
        eth1.ipv4.addresses = [
          {
            address = "10.128.2.2";
            prefixLength = 24;
          }
        ];
      };
      networking.defaultGateway = {
        address = "10.128.2.1";
        interface = "eth1";
      };

      e3.wireguard = {
        enable = true;
        role = "spoke";
        address = "10.9.0.3/16";
        peers.hub = {
          publicKey = testKeys.wireguard "hub";
          allowedIPs = [ "10.9.0.0/16" ];
          endpoint = "198.18.0.1:51820";
        };
      };

      e3.party = {
        enable = true;
        index = 2;
      };
    };

    hub = {
      imports = [
        e3Host
        (installKey "/run/keys/wireguard.key" (testKeys.private "hub"))
      ];
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
      systemd.services.e3-netem = netem "eth1" ''
        tc qdisc replace dev eth1 root handle 1: htb default 10
        tc class add dev eth1 parent 1: classid 1:10 htb rate 10gbit quantum 1514
        tc class add dev eth1 parent 1: classid 1:11 htb rate 10gbit quantum 1514
        tc qdisc add dev eth1 parent 1:11 handle 11: netem delay 1.1ms
        tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip dst 198.18.128.3/32 flowid 1:11
        tc class add dev eth1 parent 1: classid 1:12 htb rate 10gbit quantum 1514
        tc qdisc add dev eth1 parent 1:12 handle 12: netem delay 10ms
        tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip dst 198.18.128.2/32 flowid 1:12
      '';

      e3.wireguard = {
        enable = true;
        role = "hub";
        address = "10.9.255.1/16";
        peers = {
          fsn = {
            publicKey = testKeys.wireguard "fsn";
            allowedIPs = [ "10.9.0.1/32" ];
          };
          hel = {
            publicKey = testKeys.wireguard "hel";
            allowedIPs = [ "10.9.0.2/32" ];
          };
          nbg = {
            publicKey = testKeys.wireguard "nbg";
            allowedIPs = [ "10.9.0.3/32" ];
          };
        };
      };
    };

    fsn-router = {
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
        tc qdisc add dev wan parent 1:11 handle 11: netem delay 1.1ms
        tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.128.3/32 flowid 1:11
        tc class add dev wan parent 1: classid 1:12 htb rate 10gbit quantum 1514
        tc qdisc add dev wan parent 1:12 handle 12: netem delay 10ms
        tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.128.2/32 flowid 1:12
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

    hel-router = {
      imports = [ router ];
      virtualisation.interfaces = {
        wan.vlan = 1;
        lan.vlan = 3;
      };
      networking.interfaces = {
        wan.ipv4.addresses = [
          {
            address = "198.18.128.2";
            prefixLength = 16;
          }
        ];
        lan.ipv4.addresses = [
          {
            address = "10.128.1.1";
            prefixLength = 24;
          }
        ];
      };
      systemd.services.e3-netem = netem "wan" ''
        tc qdisc replace dev wan root handle 1: htb default 10
        tc class add dev wan parent 1: classid 1:10 htb rate 10gbit quantum 1514
        tc class add dev wan parent 1: classid 1:11 htb rate 10gbit quantum 1514
        tc qdisc add dev wan parent 1:11 handle 11: netem delay 10ms
        tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.1/32 flowid 1:11
        tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.128.1/32 flowid 1:11
        tc class add dev wan parent 1: classid 1:12 htb rate 10gbit quantum 1514
        tc qdisc add dev wan parent 1:12 handle 12: netem delay 11.1ms
        tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.128.3/32 flowid 1:12
      '';

      # `hard` NAT: endpoint-dependent mapping (random port per destination).
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
            oifname "wan" masquerade random
          }
        '';
      };
    };

    nbg-carrier = {
      imports = [ router ];
      virtualisation.interfaces = {
        wan.vlan = 1;
        cgn.vlan = 5;
      };
      networking.interfaces = {
        wan.ipv4.addresses = [
          {
            address = "198.18.128.3";
            prefixLength = 16;
          }
        ];
        cgn.ipv4.addresses = [
          {
            address = "100.64.0.1";
            prefixLength = 24;
          }
        ];
      };
      systemd.services.e3-netem = netem "wan" ''
        tc qdisc replace dev wan root handle 1: htb default 10
        tc class add dev wan parent 1: classid 1:10 htb rate 10gbit quantum 1514
        tc class add dev wan parent 1: classid 1:11 htb rate 10gbit quantum 1514
        tc qdisc add dev wan parent 1:11 handle 11: netem delay 1.1ms
        tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.1/32 flowid 1:11
        tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.128.1/32 flowid 1:11
        tc class add dev wan parent 1: classid 1:12 htb rate 10gbit quantum 1514
        tc qdisc add dev wan parent 1:12 handle 12: netem delay 11.1ms
        tc filter add dev wan parent 1: protocol ip prio 1 u32 match ip dst 198.18.128.2/32 flowid 1:12
      '';

      # the carrier-grade NAT of a `cgnat` site: `easy`.
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
            iifname "cgn" accept
            iifname "wan" counter name "unsolicited" drop
          }
          chain post {
            type nat hook postrouting priority srcnat; policy accept;
            oifname "wan" masquerade
          }
        '';
      };
    };

    nbg-router = {
      imports = [ router ];
      virtualisation.interfaces = {
        wan.vlan = 5;
        lan.vlan = 4;
      };
      networking.interfaces = {
        wan.ipv4.addresses = [
          {
            address = "100.64.0.2";
            prefixLength = 24;
          }
        ];
        lan.ipv4.addresses = [
          {
            address = "10.128.2.1";
            prefixLength = 24;
          }
        ];
      };
      networking.defaultGateway = {
        address = "100.64.0.1";
        interface = "wan";
      };

      # the home router of a `cgnat` site: `easy`.
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
