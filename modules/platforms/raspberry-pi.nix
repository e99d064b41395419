# A Raspberry Pi 3 or 4 (aarch64), booted from an SD card. nixpkgs'
# sd-image-aarch64.nix (U-Boot + extlinux, the mainline kernel) boots the
# Pi 3 and Pi 4 models; it has no firmware or device tree for the Pi 5,
# which needs community support (e.g. nixos-raspberrypi) that e3 does not
# pin. The system that is flashed and the system that Colmena later
# deploys are the same (root file system labelled NIXOS_SD). The image:
#
#   nix build .#nixosConfigurations.<host>.config.system.build.sdImage
#
# Building an aarch64 system on the x86_64 deployer needs an aarch64
# builder or emulation (`boot.binfmt.emulatedSystems = [ "aarch64-linux" ];`
# on a NixOS deployer) for this first image. Afterwards the hive sets
# `deployment.buildOnTarget = true` for the Pi: Colmena builds on the Pi
# itself. Because the image module is part of the top-level configuration,
# use `system.build.sdImage`, not `system.build.images.sd-card`. Import
# together with modules/default.nix.
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
