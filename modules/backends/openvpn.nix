# OpenVPN: the centralised VPN. One public server; every party is a client
# of it over UDP, and the server forwards between clients
# (`client-to-client`), so every pair of parties is relayed through the
# server by construction. Each client gets a fixed overlay address from the
# server (`client-config-dir` with one `ifconfig-push` per certificate
# name, `ccd-exclusive`: a certificate without an entry is refused).
#
# TLS with certificates of one e3 CA (`e3 keys` makes them with openssl:
# ECDSA P-256; the server's certificate is for `serverAuth`, the clients'
# for `clientAuth`), uploaded by Colmena to /run/keys. nixpkgs runs
# `openvpn-<name>.service` as root, which reads them there. The lab
# (`e3 sim`) runs the same directives.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    mapAttrsToList
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    stringLength
    types
    ;

  e3lib = import ../lib.nix { inherit lib; };
  cfg = config.e3.openvpn;

  # The data channel's ciphers, strongest first; OpenVPN 2.6 negotiates.
  ciphers = "AES-256-GCM:CHACHA20-POLY1305";

  clientConfigDir = pkgs.linkFarm "openvpn-${cfg.name}-ccd" (
    mapAttrsToList (name: address: {
      inherit name;
      path = pkgs.writeText "openvpn-${cfg.name}-ccd-${name}" ''
        ifconfig-push ${address} ${cfg.netmask}
      '';
    }) cfg.clients
  );

  common = ''
    dev ${cfg.interface}
    dev-type tun
    proto udp
    topology subnet
    ca ${cfg.caFile}
    cert ${cfg.certFile}
    key ${cfg.keyFile}
    data-ciphers ${ciphers}
    tls-version-min 1.2
    persist-key
    persist-tun
  '';

  serverConfig = ''
    ${common}
    mode server
    tls-server
    port ${toString cfg.port}
    ifconfig ${cfg.address} ${cfg.netmask}
    push "topology subnet"
    push "route-gateway ${cfg.address}"
    client-config-dir ${clientConfigDir}
    ccd-exclusive
    client-to-client
    dh none
    keepalive 10 60
    verify-client-cert require
    remote-cert-tls client
  '';

  clientConfig = ''
    ${common}
    client
    nobind
    remote ${cfg.server} ${toString cfg.port}
    remote-cert-tls server
    verify-x509-name ${cfg.serverName} name
    explicit-exit-notify 1
  '';
in
{
  options.e3.openvpn = {
    enable = mkEnableOption "the OpenVPN overlay";

    role = mkOption {
      type = types.enum [
        "server"
        "client"
      ];
      example = "client";
      description = ''
        `server`: the public host every party connects to; forwards
        between its clients. `client`: a party.
      '';
    };

    name = mkOption {
      type = types.strMatching "[a-z0-9]+";
      default = "e3";
      example = "mpc";
      description = "Name of the instance (`services.openvpn.servers.<name>`, unit `openvpn-<name>.service`).";
    };

    interface = mkOption {
      type = types.str;
      default = "tun-e3";
      example = "tun0";
      description = "Name of the tun device (at most 15 characters).";
    };

    address = mkOption {
      type = types.str;
      example = "10.9.255.1";
      description = "The server's overlay address (on the server; clients get theirs pushed).";
    };

    netmask = mkOption {
      type = types.str;
      default = "255.255.0.0";
      example = "255.255.0.0";
      description = "Netmask of the overlay.";
    };

    port = mkOption {
      type = types.port;
      default = 1194;
      example = 1194;
      description = "UDP port of the server (opened in the server's firewall).";
    };

    server = mkOption {
      type = types.str;
      default = "";
      example = "203.0.113.20";
      description = "Public address of the server (on a client).";
    };

    serverName = mkOption {
      type = types.str;
      default = "server";
      example = "server";
      description = "Common name of the server's certificate, checked by the clients.";
    };

    clients = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        alice = "10.9.0.1";
        bob = "10.9.0.2";
      };
      description = "On the server: each client's certificate name and the overlay address it gets.";
    };

    caFile = mkOption {
      type = e3lib.secretFile;
      default = "/run/keys/openvpn-ca.crt";
      example = "/run/keys/openvpn-ca.crt";
      description = "The e3 CA's certificate (Colmena key `openvpn-ca.crt`).";
    };

    certFile = mkOption {
      type = e3lib.secretFile;
      default = "/run/keys/openvpn-host.crt";
      example = "/run/keys/openvpn-host.crt";
      description = "This host's certificate (Colmena key `openvpn-host.crt`).";
    };

    keyFile = mkOption {
      type = e3lib.secretFile;
      default = "/run/keys/openvpn-host.key";
      example = "/run/keys/openvpn-host.key";
      description = "This host's private key (Colmena key `openvpn-host.key`).";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = stringLength cfg.interface <= 15;
          message = "e3.openvpn.interface `${cfg.interface}` exceeds 15 characters.";
        }
        {
          assertion = cfg.role == "client" -> cfg.server != "";
          message = "e3.openvpn: a client needs `server`, the server's public address.";
        }
        {
          assertion = cfg.role == "server" -> cfg.clients != { };
          message = "e3.openvpn: the server needs `clients`, one overlay address per client certificate name.";
        }
      ];

      services.openvpn.servers.${cfg.name} = {
        config = if cfg.role == "server" then serverConfig else clientConfig;
        autoStart = true;
        updateResolvConf = false;
      };

      e3.overlay = {
        backend = "openvpn";
        inherit (cfg) interface;
        units = [ "openvpn-${cfg.name}.service" ];
      };
    }

    (mkIf (cfg.role == "server") {
      networking.firewall.allowedUDPPorts = [ cfg.port ];
    })
  ]);
}
