# A Raspberry Pi 3/4/5 (aarch64), booted from an SD card. The configuration
# imports nixpkgs' sd-image-aarch64.nix, so the system that is flashed and
# the system that Colmena later deploys are the same (U-Boot, extlinux, root
# file system labelled NIXOS_SD). The image to flash:
#
#   nix build .#nixosConfigurations.<host>.config.system.build.sdImage
#
# (built on an aarch64 machine or with binfmt emulation). Because the image
# module is part of the top-level configuration, use `system.build.sdImage`,
# not `system.build.images.sd-card`. Import together with modules/default.nix.
{ lib, modulesPath, ... }:
let
  inherit (lib) mkDefault;
in
{
  imports = [ (modulesPath + "/installer/sd-card/sd-image-aarch64.nix") ];

  config = {
    e3.platform.name = "raspberry-pi";

    nixpkgs.hostPlatform = mkDefault "aarch64-linux";

    # Wi-Fi and Bluetooth firmware of the Pi.
    hardware.enableRedistributableFirmware = mkDefault true;

    # The installer profile that sd-image-aarch64.nix pulls in enables ZFS;
    # e3 does not use it, and leaving it out keeps the kernel closure small.
    boot.supportedFilesystems.zfs = lib.mkForce false;
  };
}
