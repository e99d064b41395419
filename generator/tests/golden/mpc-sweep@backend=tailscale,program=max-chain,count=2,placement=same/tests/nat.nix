# The NixOS VM test of the e3 scenario `mpc-sweep@backend=tailscale,program=max-chain,count=2,placement=same`: its NAT topology with real
# routers, Tailscale clients on a local Headscale, and a run of `max-chain` on every party.
# Rendered by e3: do not edit; change the scenario and run `e3 render mpc-sweep@backend=tailscale,program=max-chain,count=2,placement=same` again.
#
#   nix build .#checks.x86_64-linux.nat -L    # or `nix flake check`; needs KVM
#
# The result holds e3-summary.json: each site's NAT mapping and filtering,
# each pair's path (direct or relayed), each party's result.
{ pkgs }:
let
  inherit (pkgs) lib;

  # What the test script checks, from the plan (`e3 show mpc-sweep@backend=tailscale,program=max-chain,count=2,placement=same`); also
  # `passthru.e3` of the check.
  facts = {
    scenario = "mpc-sweep@backend=tailscale,program=max-chain,count=2,placement=same";
    backend = "tailscale";
    program = "max-chain";
    port = 11365;
    coordinator = "control";
    relay = "control";
    hub = false;
    expectFailure = null;
    parties = [
      {
        host = "p-0";
        index = 0;
        nat = "none";
        overlay = null;
        public = "198.18.1.1";
        addresses = [ "198.18.1.1" ];
      }
      {
        host = "p-1";
        index = 1;
        nat = "none";
        overlay = null;
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
        host = "control";
        address = "198.18.0.1";
        ssh = true;
      }
    ];
    overlay = [ ];
    routers = [ ];
    shaped = [ ];
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
        "p-0:11365"
        "p-1:11365"
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
  name = "e3-mpc-sweep-backend=tailscale-program=max-chain-count=2-placement=same";

  # Addresses, gateways and routes are the plan's, set per node below; no DHCP
  # on QEMU's user-mode network.
  defaults.networking.useDHCP = false;

  nodes = {
    p-0 = {
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

      e3.tailscale = {
        enable = true;
        loginServer = "https://control";
      };

      e3.party = {
        enable = true;
        index = 0;
      };
    };

    p-1 = {
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

      e3.tailscale = {
        enable = true;
        loginServer = "https://control";
      };

      e3.party = {
        enable = true;
        index = 1;
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
