# mkE3Test: the NixOS VM test of a rendered scenario (`runNixOSTest`), the
# same function for every scenario, fed by its data: one VM per plan host
# (data/hosts/<host>.json, `vm`), VLAN 1 the internet segment, routers with
# the NAT rules of e3's lab as nftables tables, netem where the plan puts
# latency, e3's modules on parties and control hosts configured as a
# deployment configures them (simulation addresses, throwaway keys), and the
# script tests/nat.py, which reads the facts (data/e3.json, `vmtest.facts`).
#
#   import ./modules/scenario/vmtest.nix { inherit pkgs; root = ./.; }
#
# The node set, addresses, VLANs, tables and facts need only builtins, so
# e3's tests evaluate them without nixpkgs.
{ pkgs, root }:
let
  inherit (pkgs) lib;
  scenario = import ./. { inherit root; };
  inherit (scenario) data hosts attrsOf;
  test = data.vmtest;
  inherit (test) facts;

  optional = condition: attrs: if condition then attrs else { };

  # Throwaway overlay keys, made at build time for this test alone (never the
  # scenario's secrets/). The hosts' configurations need the public halves,
  # so they are read during evaluation (import from derivation).
  testKeys =
    let
      kind = test.testKeys.backend;
      tools = {
        tinc = pkgs.openssl;
        wireguard = pkgs.wireguard-tools;
      };
      generate = {
        tinc = ''
          openssl genrsa -traditional -out $out/tinc/$host.priv 2048
          openssl rsa -in $out/tinc/$host.priv -RSAPublicKey_out -out $out/tinc/$host.pub
        '';
        wireguard = ''
          wg genkey | tee $out/wireguard/$host.key | wg pubkey > $out/wireguard/$host.pub
        '';
      };
      keys = pkgs.runCommand "e3-test-keys" { nativeBuildInputs = [ tools.${kind} ]; } ''
        mkdir -p $out/${kind}
        for host in ${builtins.concatStringsSep " " test.testKeys.hosts}; do
        ${generate.${kind}}done
      '';
    in
    {
      tinc = host: builtins.readFile "${keys}/tinc/${host}.pub";
      wireguard = host: lib.fileContents "${keys}/wireguard/${host}.pub";
      private =
        host: if kind == "tinc" then "${keys}/tinc/${host}.priv" else "${keys}/wireguard/${host}.key";
    };

  # The VM test's references: its addresses are literal already.
  resolve = scenario.resolveWith {
    publicKey = r: testKeys.${r.backend} r.host;
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

  # Tailscale clients need TLS for Headscale's embedded DERP relay. As in
  # nixpkgs' headscale test: a self-signed certificate for the control
  # server's name, made at build time for this test alone, and nginx in front
  # of Headscale's plain-HTTP listener (e3's `tls = "none"` behind a
  # TLS-terminating proxy).
  inherit (test.tailnet) control;
  tlsCert = pkgs.runCommand "e3-test-tls" { nativeBuildInputs = [ pkgs.openssl ]; } ''
    openssl req -x509 -newkey rsa:2048 -sha256 -days 30 -nodes \
      -subj /CN=${control} -addext subjectAltName=DNS:${control} \
      -keyout key.pem -out cert.pem
    mkdir -p $out
    cp key.pem cert.pem $out
  '';

  headscaleTls =
    { config, ... }:
    {
      services.nginx = {
        enable = true;
        virtualHosts.${control} = {
          onlySSL = true;
          sslCertificate = "${tlsCert}/cert.pem";
          sslCertificateKey = "${tlsCert}/key.pem";
          locations."/" = {
            proxyPass = "http://127.0.0.1:${toString config.e3.headscale.port}";
            proxyWebsockets = true;
          };
        };
      };
      services.headscale.settings.server_url = lib.mkForce "https://${control}";
      networking.firewall.allowedTCPPorts = [ 443 ];
    };

  # Parties trust the certificate and find the control server without DNS.
  tailnetClient = {
    security.pki.certificateFiles = [ "${tlsCert}/cert.pem" ];
  }
  // optional (test.tailnet.address != null) {
    networking.hosts.${test.tailnet.address} = [ control ];
  };

  # Every host that runs e3's NixOS modules, as a deployment configures it,
  # with nixpkgs' throwaway test SSH key (the driver reaches the VMs through
  # its backdoor shell, not SSH).
  e3Host = {
    imports = [
      ../.
      (resolve test.common)
    ];

    e3.common.enable = true;
    e3.sshKeys = [ (import "${pkgs.path}/nixos/tests/ssh-keys.nix" pkgs).snakeOilPublicKey ];
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

  modulesByName = {
    inherit
      e3Host
      party
      router
      headscaleTls
      tailnetClient
      ;
  };

  # The plan's one-way delays (simulation.latency) and loss
  # (simulation.loss), applied by each host on the internet segment (a site's
  # router or carrier for its parties) to what it sends there, per
  # destination.
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

  node =
    name:
    let
      inherit (hosts.${name}) vm;
    in
    {
      imports =
        map (m: modulesByName.${m}) vm.imports
        ++ (if vm.testKey == null then [ ] else [ (installKey vm.testKey (testKeys.private name)) ])
        ++ (if vm.settings == null then [ ] else [ (resolve vm.settings) ]);

      virtualisation.interfaces = builtins.listToAttrs (
        map (i: {
          inherit (i) name;
          value.vlan = i.vlan;
        }) vm.interfaces
      );

      networking = {
        interfaces = builtins.listToAttrs (
          map (i: {
            inherit (i) name;
            value.ipv4 = {
              addresses = [ { inherit (i) address prefixLength; } ];
            }
            // optional (i.routes != [ ]) { inherit (i) routes; };
          }) vm.interfaces
        );
      }
      // optional (vm.gateway != null) { defaultGateway = vm.gateway; }
      # The NAT of a router (data: `nat.comment` says which).
      // optional (vm.nat != null) {
        nftables.tables.e3 = {
          family = "ip";
          inherit (vm.nat) content;
        };
      };
    }
    // optional (vm.netem != null) {
      systemd.services.e3-netem = netem vm.netem.interface (
        builtins.concatStringsSep "" (map (command: command + "\n") vm.netem.commands)
      );
    };
in
pkgs.testers.runNixOSTest {
  inherit (test) name;

  # Addresses, gateways and routes are the plan's, set per node; no DHCP on
  # QEMU's user-mode network.
  defaults.networking.useDHCP = false;

  nodes = attrsOf node data.hosts;

  passthru.e3 = facts;

  testScript =
    { nodes, ... }:
    let
      # The facts, and each host's overlay units as e3's modules set them.
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
        (if facts.backend == "nebula" then lib.getExe' pkgs.nebula "nebula-cert" else "nebula-cert")
        (if facts.backend == "openvpn" then lib.getExe pkgs.openssl else "openssl")
      ]
      (builtins.readFile (root + "/tests/nat.py"));
}
