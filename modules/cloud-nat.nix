# A NAT site of the scenario built in the cloud (see generator/src/cloud.rs):
# the router runs the same nftables rules as the lab and the VM test
# (generator/src/nat.rs), between `eth0` (its way out) and `eth1` (the
# site's private network); a party behind it has no way out but the router.
# The platform modules turn predictable interface names off, so `eth0` is
# the first NIC (public, or the first private network) on the first boot
# already. Import together with modules/default.nix.
{ config, lib, ... }:
let
  inherit (lib)
    mkEnableOption
    mkForce
    mkIf
    mkMerge
    mkOption
    optional
    types
    ;

  cfg = config.e3.cloudNat;

  static = types.nullOr (
    types.submodule {
      options = {
        address = mkOption {
          type = types.str;
          example = "10.128.0.3";
          description = "IPv4 address on the interface.";
        };
        prefixLength = mkOption {
          type = types.ints.between 8 32;
          default = 24;
          description = "Prefix length of the network.";
        };
      };
    }
  );
in
{
  options.e3.cloudNat = {
    router = {
      enable = mkEnableOption "the NAT router of a site: IPv4 forwarding and the scenario's rules";

      rules = mkOption {
        type = types.lines;
        example = ''
          chain post {
            type nat hook postrouting priority srcnat; policy accept;
            oifname "eth0" masquerade
          }
        '';
        description = ''
          The statements of the nftables table `e3` (nat.rs's rules for
          this router, rendered by e3), with stand-ins for addresses known
          only after Terraform (see `substitute`).
        '';
      };

      substitute = mkOption {
        type = types.attrsOf types.str;
        default = { };
        example = {
          "0.0.0.0" = "203.0.113.7";
        };
        description = ''
          Stand-in → address replacements applied to `rules`: for `one2one`,
          `0.0.0.0` → the router's public address and, on DigitalOcean, the
          plan's inside address → the party's VPC address.
        '';
      };

      lan = mkOption {
        type = static;
        default = null;
        description = ''
          Static address on `eth1`, the site's network (DigitalOcean: the
          VPC address Terraform reports). `null` keeps DHCP (Hetzner).
        '';
      };
    };

    party = {
      enable = mkEnableOption "a host behind a cloud NAT router: its only route out is the router";

      interface = mkOption {
        type = types.enum [
          "eth0"
          "eth1"
        ];
        example = "eth1";
        description = "The interface on the site's network.";
      };

      address = mkOption {
        type = static;
        default = null;
        description = "Static address on `interface`; `null` keeps DHCP (Hetzner).";
      };

      gateway = mkOption {
        type = types.str;
        example = "10.128.0.254";
        description = ''
          Next hop of the default route: the router's address on the site
          network (DigitalOcean), or the network's gateway that routes
          `0.0.0.0/0` to the router (Hetzner: the first address).
        '';
      };

      disablePublic = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Leave `eth0` unconfigured (DigitalOcean: every Droplet has a
          public interface; behind NAT it must not be a way out).
        '';
      };
    };
  };

  config = mkMerge [
    (mkIf cfg.router.enable {
      boot.kernel.sysctl."net.ipv4.ip_forward" = 1;
      networking.nftables = {
        enable = true;
        tables.e3 = {
          family = "ip";
          content =
            builtins.replaceStrings (builtins.attrNames cfg.router.substitute)
              (builtins.attrValues cfg.router.substitute)
              cfg.router.rules;
        };
      };
      networking.interfaces = mkIf (cfg.router.lan != null) {
        eth1.ipv4.addresses = [ cfg.router.lan ];
      };
    })
    (mkIf cfg.party.enable {
      networking.useDHCP = mkIf cfg.party.disablePublic (mkForce false);
      networking.interfaces = mkMerge [
        { ${cfg.party.interface}.useDHCP = cfg.party.address == null; }
        (mkIf (cfg.party.address != null) {
          ${cfg.party.interface}.ipv4.addresses = [ cfg.party.address ];
        })
        (mkIf cfg.party.disablePublic { eth0.useDHCP = false; })
      ];
      networking.defaultGateway = {
        address = cfg.party.gateway;
        inherit (cfg.party) interface;
      };
      # The cloud's resolvers came with the public interface or DHCP of a
      # public network; these are reached through the router.
      networking.nameservers = [
        "1.1.1.1"
        "9.9.9.9"
      ];
      assertions = optional (cfg.party.disablePublic && cfg.party.interface == "eth0") {
        assertion = false;
        message = "e3.cloudNat.party: the site network cannot be eth0 when eth0 is disabled.";
      };
    })
  ];
}
