# Tailscale clients. The control plane is Tailscale's service, or a
# Headscale server (modules/backends/headscale.nix) when `loginServer` is
# set. The node logs in once with a pre-authentication key that Colmena
# uploads to /run/keys; the login state then lives in /var/lib/tailscale.
{ config, lib, ... }:
let
  inherit (lib)
    mkDefault
    mkEnableOption
    mkIf
    mkOption
    optional
    types
    ;

  e3lib = import ../lib.nix { inherit lib; };
  cfg = config.e3.tailscale;
  hostName = config.networking.hostName;
in
{
  options.e3.tailscale = {
    enable = mkEnableOption "the Tailscale overlay (Tailscale's control plane, or Headscale with `loginServer`)";

    authKeyFile = mkOption {
      type = e3lib.secretFile;
      default = "/run/keys/tailscale-authkey";
      example = "/run/keys/tailscale-authkey";
      description = ''
        File holding the pre-authentication key (a Tailscale auth key, or a
        Headscale pre-auth key). Uploaded by Colmena
        (`deployment.keys."tailscale-authkey"`, owner root, mode 0600);
        read only by the root service `tailscaled-autoconnect`. Never a
        path into the Nix store.
      '';
    };

    loginServer = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "https://hs.example.org";
      description = ''
        URL of a Headscale control server, passed as `--login-server`.
        `null` uses Tailscale's own control plane.
      '';
    };

    extraUpFlags = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "--advertise-tags=tag:e3" ];
      description = "Further flags for `tailscale up`.";
    };
  };

  config = mkIf cfg.enable {
    services.tailscale = {
      enable = true;
      inherit (cfg) authKeyFile;
      # The UDP port helps direct (non-relayed) connections.
      openFirewall = true;
      extraUpFlags =
        optional (cfg.loginServer != null) "--login-server=${cfg.loginServer}"
        # The node name is what e3-run resolves (`tailscale ip -4 NAME`).
        ++ optional (hostName != "") "--hostname=${hostName}"
        # Parties are addressed by tailnet address; leave resolv.conf alone.
        ++ [ "--accept-dns=false" ]
        ++ cfg.extraUpFlags;
    };

    # The key may reach the host after the service first ran (a key upload
    # that failed, `colmena upload-keys` later): try again.
    systemd.services.tailscaled-autoconnect.serviceConfig = {
      Restart = "on-failure";
      RestartSec = "5s";
    };

    e3.overlay = {
      backend = "tailscale";
      interface = config.services.tailscale.interfaceName;
      units = [
        "tailscaled.service"
        "tailscaled-autoconnect.service"
      ];
    };

    e3.party.resolver = mkDefault "tailscale";
  };
}
