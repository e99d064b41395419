# A Headscale control server for Tailscale clients (e3.tailscale with
# `loginServer`), with Headscale's embedded DERP relay and STUN server, so a
# scenario depends on no service outside it.
#
# TLS: Tailscale clients talk to the control server and to DERP over HTTPS.
#   tls = "acme": nginx terminates TLS for `domain` with a Let's Encrypt
#     certificate (HTTP-01 on port 80) and proxies to Headscale on
#     127.0.0.1. The host configuration must accept the CA's terms itself
#     (`security.acme.acceptTerms = true`); `domain` must resolve to this
#     host before the first deployment.
#   tls = "none": Headscale listens on all addresses over plain HTTP. For
#     closed test networks only; the embedded DERP relay is not usable by
#     clients without TLS, STUN still is.
# A certificate from elsewhere (a TLS-terminating proxy in front of this
# host): use tls = "none" behind it and open only what the proxy needs.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    literalMD
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    types
    ;

  cfg = config.e3.headscale;

  serverUrl =
    if cfg.tls == "acme" then "https://${cfg.domain}" else "http://${cfg.domain}:${toString cfg.port}";

  # Prints a reusable pre-authentication key for `cfg.user`, creating the
  # user first if needed. The deploy step runs it as root over SSH and
  # uploads its output to the parties as /run/keys/tailscale-authkey.
  # Headscale >= 0.26 identifies users by numeric ID in `preauthkeys`.
  authKeyCommand = pkgs.writeShellApplication {
    name = "e3-headscale-authkey";
    runtimeInputs = [
      config.services.headscale.package
      pkgs.jq
    ];
    text = ''
      user=${lib.escapeShellArg cfg.user}
      expiration=''${1:-2h}
      users() {
        headscale users list -o json
      }
      if ! users | jq -e --arg u "$user" 'any(.[]?; .name == $u)' >/dev/null; then
        headscale users create "$user" >/dev/null
      fi
      id=$(users | jq -r --arg u "$user" '.[] | select(.name == $u) | .id')
      headscale preauthkeys create --user "$id" --reusable --expiration "$expiration" -o json | jq -r '.key'
    '';
  };
in
{
  options.e3.headscale = {
    enable = mkEnableOption "a Headscale control server with embedded DERP relay and STUN";

    domain = mkOption {
      type = types.str;
      example = "hs.example.org";
      description = ''
        Name (or, with `tls = "none"`, also an address) under which the
        clients reach this server.
      '';
    };

    tls = mkOption {
      type = types.enum [
        "acme"
        "none"
      ];
      default = "acme";
      example = "none";
      description = ''
        `acme`: nginx with a Let's Encrypt certificate in front of
        Headscale (ports 80 and 443). `none`: plain HTTP on
        {option}`e3.headscale.port`, for closed test networks.
      '';
    };

    acmeEmail = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "researcher@example.org";
      description = ''
        Contact address for the ACME account (`security.acme.defaults.email`).
        Required with `tls = "acme"`.
      '';
    };

    port = mkOption {
      type = types.port;
      default = 8080;
      example = 443;
      description = "Port Headscale listens on (on 127.0.0.1 behind nginx, on all addresses with `tls = \"none\"`).";
    };

    stunPort = mkOption {
      type = types.port;
      default = 3478;
      example = 3478;
      description = "UDP port of the embedded STUN server.";
    };

    derpRegionId = mkOption {
      type = types.ints.between 900 999;
      default = 999;
      example = 901;
      description = "Region ID of the embedded DERP server (900-999 are free for custom regions).";
    };

    useTailscaleDerp = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = ''
        Whether clients may also use Tailscale's public DERP relays. Off by
        default so that an experiment only relays through the embedded
        server.
      '';
    };

    baseDomain = mkOption {
      type = types.str;
      default = "e3.internal";
      example = "tailnet.example.org";
      description = ''
        MagicDNS base domain (`settings.dns.base_domain`). Must differ from
        {option}`e3.headscale.domain`. e3 addresses parties by tailnet
        address, not by MagicDNS name.
      '';
    };

    user = mkOption {
      type = types.str;
      default = "e3";
      example = "experiment";
      description = "Headscale user the parties are registered to.";
    };

    serverUrl = mkOption {
      type = types.str;
      readOnly = true;
      default = serverUrl;
      defaultText = literalMD "`https://<domain>`, or `http://<domain>:<port>` with `tls = \"none\"`";
      description = "The URL clients use: {option}`e3.tailscale.loginServer` on the parties.";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = cfg.tls == "acme" -> cfg.acmeEmail != null;
          message = "e3.headscale.tls = \"acme\" needs e3.headscale.acmeEmail (and security.acme.acceptTerms = true).";
        }
        {
          assertion = cfg.baseDomain != cfg.domain && !lib.hasSuffix ".${cfg.baseDomain}" cfg.domain;
          message = "e3.headscale.baseDomain must not contain e3.headscale.domain (Headscale refuses to start).";
        }
      ];

      services.headscale = {
        enable = true;
        address = if cfg.tls == "acme" then "127.0.0.1" else "0.0.0.0";
        inherit (cfg) port;
        settings = {
          server_url = serverUrl;

          dns = {
            magic_dns = true;
            base_domain = cfg.baseDomain;
            # Clients run with --accept-dns=false; push no resolvers.
            override_local_dns = false;
          };

          derp = {
            urls = mkIf (!cfg.useTailscaleDerp) [ ];
            server = {
              enabled = true;
              region_id = cfg.derpRegionId;
              region_code = "e3";
              region_name = "e3 embedded DERP";
              stun_listen_addr = "0.0.0.0:${toString cfg.stunPort}";
              automatically_add_embedded_derp_region = true;
            };
          };

          # Do not ship Headscale's own logs to Tailscale.
          logtail.enabled = false;
        };
      };

      environment.systemPackages = [ authKeyCommand ];

      networking.firewall.allowedUDPPorts = [ cfg.stunPort ];
    }

    (mkIf (cfg.tls == "acme") {
      security.acme.defaults.email = mkIf (cfg.acmeEmail != null) cfg.acmeEmail;

      services.nginx = {
        enable = true;
        recommendedProxySettings = true;
        recommendedTlsSettings = true;
        virtualHosts.${cfg.domain} = {
          forceSSL = true;
          enableACME = true;
          locations."/" = {
            proxyPass = "http://127.0.0.1:${toString cfg.port}";
            # The Tailscale control protocol and DERP upgrade the connection.
            proxyWebsockets = true;
            extraConfig = ''
              proxy_buffering off;
            '';
          };
        };
      };

      networking.firewall.allowedTCPPorts = [
        80
        443
      ];
    })

    (mkIf (cfg.tls == "none") {
      networking.firewall.allowedTCPPorts = [ cfg.port ];
    })
  ]);
}
