# A DigitalOcean droplet (x86_64). The droplet's runtime configuration comes
# from nixpkgs' digital-ocean-config.nix (virtio, GRUB on /dev/vda, root
# file system labelled `nixos`, metadata services). The custom image to
# upload is built through the image variants of NixOS >= 25.05:
#
#   nix build .#nixosConfigurations.<host>.config.system.build.images.digital-ocean
#
# (`image.modules.digital-ocean` is nixpkgs' digital-ocean-image.nix; this
# module only adds its settings to it.) Import together with modules/default.nix.
{
  config,
  lib,
  modulesPath,
  ...
}:
let
  inherit (lib) mkDefault mkOption types;

  cfg = config.e3.platform.digitalocean;
in
{
  imports = [ (modulesPath + "/virtualisation/digital-ocean-config.nix") ];

  options.e3.platform.digitalocean = {
    imageCompression = mkOption {
      type = types.enum [
        "gzip"
        "bzip2"
      ];
      default = "gzip";
      example = "bzip2";
      description = ''
        Compression of the uploadable image
        (`virtualisation.digitalOceanImage.compressionMethod`).
      '';
    };
  };

  config = {
    e3.platform.name = "digitalocean";

    nixpkgs.hostPlatform = mkDefault "x86_64-linux";

    # eth0 public, eth1 the VPC, from the first boot of the base image on:
    # e3's cloud NAT rules (modules/cloud-nat.nix) name these interfaces.
    networking.usePredictableInterfaceNames = false;

    image.modules.digital-ocean = {
      virtualisation.digitalOceanImage.compressionMethod = cfg.imageCompression;
    };
  };
}
