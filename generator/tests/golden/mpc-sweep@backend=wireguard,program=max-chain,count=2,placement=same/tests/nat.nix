# The NixOS VM test of the e3 scenario `mpc-sweep@backend=wireguard,program=max-chain,count=2,placement=same`: its NAT topology with real
# routers, the `wireguard` overlay, and a run of `max-chain` on every party.
# Rendered by e3: do not edit; change the scenario and run `e3 render mpc-sweep@backend=wireguard,program=max-chain,count=2,placement=same` again.
#
#   nix build .#checks.x86_64-linux.nat -L    # or `nix flake check`; needs KVM
#
# The result holds e3-summary.json: each site's NAT mapping and filtering,
# each pair's path (direct or relayed), each party's result.
{ pkgs }:
let
  inherit (pkgs) lib;

  # What the test script checks, from the plan (`e3 show mpc-sweep@backend=wireguard,program=max-chain,count=2,placement=same`); also
  # `passthru.e3` of the check.
  facts = {
    scenario = "mpc-sweep@backend=wireguard,program=max-chain,count=2,placement=same";
    backend = "wireguard";
    program = "max-chain";
    port = 11365;
    coordinator = null;
    relay = null;
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
    ];
    overlay = [ ];
    routers = [ ];
    shaped = [ ];
  };

  # Throwaway overlay keys, made at build time for this test alone (never the
  # scenario's secrets/). The hosts' configurations need the public halves, so
  # they are read during evaluation (import from derivation).
  testKeys =
    let
      keys = pkgs.runCommand "e3-test-keys" { nativeBuildInputs = [ pkgs.wireguard-tools ]; } ''
        mkdir -p $out/wireguard
        for host in p-0 p-1; do
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
  name = "e3-mpc-sweep-backend=wireguard-program=max-chain-count=2-placement=same";

  # Addresses, gateways and routes are the plan's, set per node below; no DHCP
  # on QEMU's user-mode network.
  defaults.networking.useDHCP = false;

  nodes = {
    p-0 = {
      imports = [
        party
        (installKey "/run/keys/wireguard.key" (testKeys.private "p-0"))
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

      e3.wireguard = {
        enable = true;
        role = "mesh";
        address = "10.9.0.1/16";
        peers = {
          p-1 = {
            publicKey = testKeys.wireguard "p-1";
            allowedIPs = [ "10.9.0.2/32" ];
            endpoint = "198.18.1.2:51820";
          };
        };
      };

      e3.party = {
        enable = true;
        index = 0;
      };
    };

    p-1 = {
      imports = [
        party
        (installKey "/run/keys/wireguard.key" (testKeys.private "p-1"))
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

      e3.wireguard = {
        enable = true;
        role = "mesh";
        address = "10.9.0.2/16";
        peers = {
          p-0 = {
            publicKey = testKeys.wireguard "p-0";
            allowedIPs = [ "10.9.0.1/32" ];
            endpoint = "198.18.1.1:51820";
          };
        };
      };

      e3.party = {
        enable = true;
        index = 1;
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
