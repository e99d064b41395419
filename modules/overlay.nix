# The small interface between the overlay backends (modules/backends/*.nix)
# and the party module: which backend is active, which network interface
# carries the overlay and which systemd units bring it up. Backends set these
# options; a host configuration does not.
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.e3.overlay = {
    backend = mkOption {
      type = types.nullOr (
        types.enum [
          "tailscale"
          "nebula"
          "wireguard"
          "tinc"
          "openvpn"
          "direct"
        ]
      );
      default = null;
      example = "nebula";
      description = ''
        The connectivity backend in use on this host. Set by the backend
        module that is enabled; `null` when none is.
      '';
    };

    interface = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "nebula.e3";
      description = ''
        Network interface that carries the overlay. The MPyC port is opened
        on this interface only. `null` (the `direct` backend) opens it on
        all interfaces. Set by the backend module.
      '';
    };

    units = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "nebula@e3.service" ];
      description = ''
        systemd units that bring the overlay up. `e3-party.service` wants
        and is ordered after them. Set by the backend module.
      '';
    };
  };
}
