# The NixOS VM test of the e3 scenario `tailscale-3region`: its NAT topology with real
# routers, Tailscale clients on a local Headscale, and a run of `secure-sum` on every party.
# Rendered by e3: do not edit; change the scenario and run `e3 render tailscale-3region` again.
#
#   nix build .#checks.x86_64-linux.nat -L    # or `nix flake check`; needs KVM
#
# The result holds e3-summary.json: each site's NAT mapping and filtering,
# each pair's path (direct or relayed), each party's result.
{ pkgs }:
let
  inherit (pkgs) lib;

  # What the test script checks, from the plan (`e3 show tailscale-3region`); also
  # `passthru.e3` of the check.
  facts = {
    scenario = "tailscale-3region";
    backend = "tailscale";
    program = "secure-sum";
    port = 11365;
    coordinator = "control";
    relay = "control";
    hub = false;
    expectFailure = null;
    parties = [
      {
        host = "ams";
        index = 0;
        nat = "none";
        overlay = null;
        public = "198.18.1.1";
        addresses = [ "198.18.1.1" ];
      }
      {
        host = "nyc";
        index = 1;
        nat = "none";
        overlay = null;
        public = "198.18.1.2";
        addresses = [ "198.18.1.2" ];
      }
      {
        host = "sgp";
        index = 2;
        nat = "none";
        overlay = null;
        public = "198.18.1.3";
        addresses = [ "198.18.1.3" ];
      }
    ];
    sites = [ ];
    internet = [
      {
        host = "ams";
        address = "198.18.1.1";
        ssh = true;
      }
      {
        host = "nyc";
        address = "198.18.1.2";
        ssh = true;
      }
      {
        host = "sgp";
        address = "198.18.1.3";
        ssh = true;
      }
      {
        host = "control";
        address = "198.18.0.1";
        ssh = true;
      }
    ];
    overlay = [ ];
    routers = [ ];
    shaped = [
      "ams"
      "nyc"
      "sgp"
      "control"
    ];
  };

  # Tailscale clients need TLS for Headscale's embedded DERP relay. As in
  # nixpkgs' headscale test: a self-signed certificate for the name `control`,
  # made at build time for this test alone, and nginx in front of Headscale's
  # plain-HTTP listener (e3's `tls = "none"` behind a TLS-terminating proxy).
  tlsCert = pkgs.runCommand "e3-test-tls" { nativeBuildInputs = [ pkgs.openssl ]; } ''
    openssl req -x509 -newkey rsa:2048 -sha256 -days 30 -nodes \
      -subj /CN=control -addext subjectAltName=DNS:control \
      -keyout key.pem -out cert.pem
    mkdir -p $out
    cp key.pem cert.pem $out
  '';

  headscaleTls =
    { config, ... }:
    {
      services.nginx = {
        enable = true;
        virtualHosts.control = {
          onlySSL = true;
          sslCertificate = "${tlsCert}/cert.pem";
          sslCertificateKey = "${tlsCert}/key.pem";
          locations."/" = {
            proxyPass = "http://127.0.0.1:${toString config.e3.headscale.port}";
            proxyWebsockets = true;
          };
        };
      };
      services.headscale.settings.server_url = lib.mkForce "https://control";
      networking.firewall.allowedTCPPorts = [ 443 ];
    };

  # Parties trust the certificate and find `control` without DNS.
  tailnetClient = {
    security.pki.certificateFiles = [ "${tlsCert}/cert.pem" ];
    networking.hosts."198.18.0.1" = [ "control" ];
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
    # Tailnet addresses are assigned by the control server: parties are
    # named by host name and resolved at run time (`tailscale ip -4`).
    e3.party = {
      parties = [
        "ams:11365"
        "nyc:11365"
        "sgp:11365"
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
  name = "e3-tailscale-3region";

  # Addresses, gateways and routes are the plan's, set per node below; no DHCP
  # on QEMU's user-mode network.
  defaults.networking.useDHCP = false;

  nodes = {
    ams = {
      imports = [
        party
        tailnetClient
      ];
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
        tc qdisc add dev eth1 parent 1:11 handle 11: netem delay 44ms
        tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip dst 198.18.1.2/32 flowid 1:11
        tc class add dev eth1 parent 1: classid 1:12 htb rate 10gbit quantum 1514
        tc qdisc add dev eth1 parent 1:12 handle 12: netem delay 78.7ms
        tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip dst 198.18.1.3/32 flowid 1:12
      '';

      e3.tailscale = {
        enable = true;
        loginServer = "https://control";
      };

      e3.party = {
        enable = true;
        index = 0;
      };
    };

    nyc = {
      imports = [
        party
        tailnetClient
      ];
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
      systemd.services.e3-netem = netem "eth1" ''
        tc qdisc replace dev eth1 root handle 1: htb default 10
        tc class add dev eth1 parent 1: classid 1:10 htb rate 10gbit quantum 1514
        tc class add dev eth1 parent 1: classid 1:11 htb rate 10gbit quantum 1514
        tc qdisc add dev eth1 parent 1:11 handle 11: netem delay 44ms
        tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.1/32 flowid 1:11
        tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip dst 198.18.1.1/32 flowid 1:11
        tc class add dev eth1 parent 1: classid 1:12 htb rate 10gbit quantum 1514
        tc qdisc add dev eth1 parent 1:12 handle 12: netem delay 115ms
        tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip dst 198.18.1.3/32 flowid 1:12
      '';

      e3.tailscale = {
        enable = true;
        loginServer = "https://control";
      };

      e3.party = {
        enable = true;
        index = 1;
      };
    };

    sgp = {
      imports = [
        party
        tailnetClient
      ];
      virtualisation.interfaces = {
        eth1.vlan = 1;
      };
      networking.interfaces = {
        eth1.ipv4.addresses = [
          {
            address = "198.18.1.3";
            prefixLength = 16;
          }
        ];
      };
      systemd.services.e3-netem = netem "eth1" ''
        tc qdisc replace dev eth1 root handle 1: htb default 10
        tc class add dev eth1 parent 1: classid 1:10 htb rate 10gbit quantum 1514
        tc class add dev eth1 parent 1: classid 1:11 htb rate 10gbit quantum 1514
        tc qdisc add dev eth1 parent 1:11 handle 11: netem delay 78.7ms
        tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip dst 198.18.0.1/32 flowid 1:11
        tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip dst 198.18.1.1/32 flowid 1:11
        tc class add dev eth1 parent 1: classid 1:12 htb rate 10gbit quantum 1514
        tc qdisc add dev eth1 parent 1:12 handle 12: netem delay 115ms
        tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip dst 198.18.1.2/32 flowid 1:12
      '';

      e3.tailscale = {
        enable = true;
        loginServer = "https://control";
      };

      e3.party = {
        enable = true;
        index = 2;
      };
    };

    control = {
      imports = [
        e3Host
        headscaleTls
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
        tc qdisc add dev eth1 parent 1:11 handle 11: netem delay 44ms
        tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip dst 198.18.1.2/32 flowid 1:11
        tc class add dev eth1 parent 1: classid 1:12 htb rate 10gbit quantum 1514
        tc qdisc add dev eth1 parent 1:12 handle 12: netem delay 78.7ms
        tc filter add dev eth1 parent 1: protocol ip prio 1 u32 match ip dst 198.18.1.3/32 flowid 1:12
      '';

      # Plain HTTP behind the test's TLS front end (`headscaleTls`).
      e3.headscale = {
        enable = true;
        domain = "control";
        tls = "none";
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
