# e3's generic base configuration: what a fresh cloud machine needs so that
# Colmena can log in and deploy the scenario's full configuration, and
# nothing else. No scenario data: no addresses, no keys, no backend. Root's
# SSH keys come from the cloud itself (DigitalOcean's metadata service via
# nixpkgs' digital-ocean-config.nix; Hetzner's via modules/platforms/
# hetzner.nix), so one base image per nixpkgs pin and platform serves every
# scenario:
#
#   nix build .#base-image-digitalocean     # the image DigitalOcean boots
#   nixos-anywhere --flake .#base-hetzner root@<address>
#
# Import together with modules/default.nix and one platform module.
{ config, lib, ... }:
let
  inherit (lib)
    mkDefault
    mkEnableOption
    mkIf
    mkMerge
    ;

  cfg = config.e3.base;
in
{
  options.e3.base = {
    enable = mkEnableOption "e3's generic base configuration (key-only root SSH with keys from the cloud, flakes)";

    router = mkEnableOption ''
      generic forwarding for a NAT router's first boot: forward IPv4 and
      masquerade everything that leaves `eth0`, so that the machines behind
      it can be installed through it. Colmena replaces this with the
      scenario's NAT rules (`e3.cloudNat.router`)
    '';
  };

  config = mkIf cfg.enable (mkMerge [
    {
      networking.hostName = mkDefault "e3-base";

      services.openssh = {
        enable = true;
        openFirewall = true;
        settings = {
          PasswordAuthentication = false;
          KbdInteractiveAuthentication = false;
          PermitRootLogin = "prohibit-password";
        };
      };

      nix.settings.experimental-features = [
        "nix-command"
        "flakes"
      ];

      system.stateVersion = mkDefault "25.11";

      # The option manual names each module's file, which in flake mode lies
      # in the scenario's source: without it the base system depends only
      # on the e3 modules' text and the pin, the same for every scenario.
      documentation.nixos.enable = mkDefault false;
    }
    (mkIf cfg.router {
      boot.kernel.sysctl."net.ipv4.ip_forward" = 1;
      networking.nftables = {
        enable = true;
        tables.e3-base = {
          family = "ip";
          content = ''
            chain post {
              type nat hook postrouting priority srcnat; policy accept;
              oifname "eth0" masquerade
            }
          '';
        };
      };
    })
  ]);
}
