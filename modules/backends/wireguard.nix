# WireGuard with a public hub: parties are spokes that keep a tunnel to the
# hub open (persistent keepalive through their NATs) and reach each other
# through it; the hub forwards between spokes. Where every endpoint is
# public, role = "mesh" connects the parties directly.
#
# Uses the script-based backend of networking.wireguard (units
# `wireguard-<interface>.service`), which reads the private key as root:
# Colmena's default ownership (root, 0600) is enough.
{ config, lib, ... }:
let
  inherit (lib)
    all
    attrValues
    length
    mapAttrsToList
    mkDefault
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    stringLength
    types
    ;

  e3lib = import ../lib.nix { inherit lib; };
  cfg = config.e3.wireguard;

  peerModule = {
    options = {
      publicKey = mkOption {
        type = types.singleLineStr;
        example = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
        description = "The peer's public key (public keys are not secret).";
      };

      allowedIPs = mkOption {
        type = types.nonEmptyListOf types.str;
        example = [ "10.44.0.2/32" ];
        description = ''
          Overlay addresses routed to this peer: its own /32 on the hub, the
          whole overlay prefix for the hub on a spoke.
        '';
      };

      endpoint = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "203.0.113.20:51820";
        description = "Public `address:port` of the peer; `null` for a peer behind NAT (it connects to us).";
      };

      persistentKeepalive = mkOption {
        type = types.nullOr (types.ints.between 1 65535);
        default = null;
        defaultText = lib.literalMD "25 on a spoke, otherwise `null`";
        example = 25;
        description = "Seconds between keepalive packets that hold a NAT mapping open.";
      };
    };
  };
in
{
  options.e3.wireguard = {
    enable = mkEnableOption "the WireGuard overlay";

    role = mkOption {
      type = types.enum [
        "hub"
        "spoke"
        "mesh"
      ];
      example = "spoke";
      description = ''
        `hub`: public host, all spokes as peers, forwards between them.
        `spoke`: exactly one peer, the hub, reached at its endpoint.
        `mesh`: every other party a peer with a public endpoint.
      '';
    };

    interface = mkOption {
      type = types.str;
      default = "wg-e3";
      example = "wg0";
      description = "Name of the WireGuard interface (at most 15 characters).";
    };

    address = mkOption {
      type = types.str;
      example = "10.44.0.2/24";
      description = "This host's overlay address with the overlay's prefix length.";
    };

    listenPort = mkOption {
      type = types.port;
      default = 51820;
      example = 51820;
      description = "UDP port WireGuard listens on (opened in the firewall).";
    };

    privateKeyFile = mkOption {
      type = e3lib.secretFile;
      default = "/run/keys/wireguard.key";
      example = "/run/keys/wireguard.key";
      description = "This host's private key, as written by `wg genkey` (Colmena key `wireguard.key`).";
    };

    peers = mkOption {
      type = types.attrsOf (types.submodule peerModule);
      default = { };
      example = {
        hub = {
          publicKey = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
          allowedIPs = [ "10.44.0.0/24" ];
          endpoint = "203.0.113.20:51820";
        };
      };
      description = "The peers, by host name (the name appears in the per-peer systemd unit names).";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = stringLength cfg.interface <= 15;
          message = "e3.wireguard.interface `${cfg.interface}` exceeds 15 characters.";
        }
        {
          assertion = cfg.role == "spoke" -> length (attrValues cfg.peers) == 1;
          message = "e3.wireguard: a spoke has exactly one peer, the hub.";
        }
        {
          assertion = cfg.role != "hub" -> all (p: p.endpoint != null) (attrValues cfg.peers);
          message = "e3.wireguard: on a ${cfg.role}, every peer needs an endpoint (the hub's, or the other parties' public addresses).";
        }
      ];

      # The script-based backend: its units are what e3-party waits for,
      # and it reads the key file as root.
      networking.wireguard.useNetworkd = mkDefault false;

      networking.wireguard.interfaces.${cfg.interface} = {
        ips = [ cfg.address ];
        inherit (cfg) listenPort privateKeyFile;
        peers = mapAttrsToList (name: peer: {
          inherit name;
          inherit (peer) publicKey allowedIPs endpoint;
          persistentKeepalive =
            if peer.persistentKeepalive != null then
              peer.persistentKeepalive
            else if cfg.role == "spoke" then
              25
            else
              null;
        }) cfg.peers;
      };

      networking.firewall.allowedUDPPorts = [ cfg.listenPort ];

      e3.overlay = {
        backend = "wireguard";
        inherit (cfg) interface;
        units = [
          "wireguard-${cfg.interface}.service"
          "wireguard-${cfg.interface}.target"
        ];
      };
    }

    (mkIf (cfg.role == "hub") {
      # Spoke-to-spoke traffic enters and leaves through the hub's tunnel.
      boot.kernel.sysctl."net.ipv4.ip_forward" = 1;
    })
  ]);
}
