# Nebula: a lighthouse (optionally also a relay) at a static public address,
# parties that find each other through it and punch holes through their
# NATs, and relaying through the lighthouse where punching fails (two
# `hard` NATs).
#
# Certificates and the host key are uploaded by Colmena to /run/keys, owned
# by root (Colmena's default, mode 0600). nixpkgs runs nebula as the
# system user `nebula-<network>`, which does not exist before the first
# activation and is not in the `keys` group that owns /run/keys, so the
# files reach the daemon through systemd credentials (LoadCredential): the
# service manager reads them as root and hands them to the unit in
# /run/credentials/nebula@<network>.service/.
{ config, lib, ... }:
let
  inherit (lib)
    attrNames
    mkDefault
    mkEnableOption
    mkIf
    mkOption
    optional
    stringLength
    types
    ;

  e3lib = import ../lib.nix { inherit lib; };
  cfg = config.e3.nebula;

  unit = "nebula@${cfg.network}";
  interface = "nebula.${cfg.network}";
  credentials = "/run/credentials/${unit}.service";
  mpycPort = config.e3.party.listenPort;
in
{
  options.e3.nebula = {
    enable = mkEnableOption "the Nebula overlay";

    network = mkOption {
      type = types.strMatching "[a-z0-9]+";
      default = "e3";
      example = "mpc";
      description = ''
        Name of the Nebula network (`services.nebula.networks.<name>`). The
        tun device is `nebula.<name>`, at most 15 characters.
      '';
    };

    isLighthouse = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = "Whether this host is the lighthouse. A lighthouse needs a static public address and port.";
    };

    isRelay = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = ''
        Whether this host relays traffic for hosts that cannot reach each
        other directly (usually the lighthouse).
      '';
    };

    lighthouses = mkOption {
      type = types.attrsOf (types.nonEmptyListOf types.str);
      default = { };
      example = {
        "10.42.0.1" = [ "203.0.113.10:4242" ];
      };
      description = ''
        The lighthouses, by Nebula (overlay) address, each with the static
        public `address:port` it is reached at. Becomes the network's
        `lighthouses` and `staticHostMap`. Empty on a lighthouse.
      '';
    };

    relays = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "10.42.0.1" ];
      description = "Nebula addresses of the relays this host may be reached through.";
    };

    listenPort = mkOption {
      type = types.port;
      default = 4242;
      example = 4242;
      description = ''
        UDP port Nebula listens on (opened in the firewall). 0 picks a
        random port, which a lighthouse or relay must not do.
      '';
    };

    punch = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = "Whether to punch holes through NATs and answer punches (`settings.punchy`).";
    };

    caFile = mkOption {
      type = e3lib.secretFile;
      default = "/run/keys/nebula-ca.crt";
      example = "/run/keys/nebula-ca.crt";
      description = "The network's CA certificate (Colmena key `nebula-ca.crt`).";
    };

    certFile = mkOption {
      type = e3lib.secretFile;
      default = "/run/keys/nebula-host.crt";
      example = "/run/keys/nebula-host.crt";
      description = "This host's certificate, carrying its Nebula address (Colmena key `nebula-host.crt`).";
    };

    keyFile = mkOption {
      type = e3lib.secretFile;
      default = "/run/keys/nebula-host.key";
      example = "/run/keys/nebula-host.key";
      description = "This host's private key (Colmena key `nebula-host.key`).";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = stringLength interface <= 15;
        message = "e3.nebula.network `${cfg.network}` is too long: the interface name `${interface}` exceeds 15 characters.";
      }
      {
        assertion = cfg.isLighthouse -> cfg.lighthouses == { };
        message = "e3.nebula: a lighthouse does not list lighthouses (e3.nebula.lighthouses must be empty).";
      }
      {
        assertion = !cfg.isLighthouse -> cfg.lighthouses != { };
        message = "e3.nebula: a host that is not a lighthouse needs at least one lighthouse with a static address in e3.nebula.lighthouses.";
      }
      {
        assertion = (cfg.isLighthouse || cfg.isRelay) -> cfg.listenPort != 0;
        message = "e3.nebula: a lighthouse or relay must listen on a fixed port (e3.nebula.listenPort is 0).";
      }
    ];

    services.nebula.networks.${cfg.network} = {
      ca = "${credentials}/ca.crt";
      cert = "${credentials}/host.crt";
      key = "${credentials}/host.key";

      inherit (cfg) isLighthouse isRelay relays;
      lighthouses = attrNames cfg.lighthouses;
      staticHostMap = cfg.lighthouses;

      listen.port = cfg.listenPort;
      tun.device = interface;

      firewall = {
        outbound = [
          {
            port = "any";
            proto = "any";
            host = "any";
          }
        ];
        inbound = [
          {
            port = "any";
            proto = "icmp";
            host = "any";
          }
        ]
        ++ optional (config.e3.party.enable && mpycPort != null) {
          port = mpycPort;
          proto = "tcp";
          host = "any";
        };
      };

      settings.punchy = {
        punch = cfg.punch;
        respond = cfg.punch;
      };
      # A tunnel whose peer's NAT forgot its mapping (a home router that
      # restarted: new outside port, which the other side's filtering NAT
      # drops) stays dead until the connection manager deletes it and a
      # new handshake punches again: 1 s and 2 s notice it within 3 s
      # (Nebula's defaults, 5 s and 10 s: up to 15 s), as e3's lab does.
      settings.timers = {
        connection_alive_interval = mkDefault 1;
        pending_deletion_interval = mkDefault 2;
      };
    };

    systemd.services.${unit}.serviceConfig.LoadCredential = [
      "ca.crt:${cfg.caFile}"
      "host.crt:${cfg.certFile}"
      "host.key:${cfg.keyFile}"
    ];

    e3.overlay = {
      backend = "nebula";
      inherit interface;
      units = [ "${unit}.service" ];
    };
  };
}
