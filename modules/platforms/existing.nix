# Any NixOS host that already exists and is reachable over SSH (a lab
# machine, a laptop, a VM elsewhere). e3 adds only what modules/common.nix
# adds (key-only root SSH, flakes). Hardware, file systems and the boot
# loader stay the owner's: the host configuration must import the host's
# own hardware-configuration.nix (from `nixos-generate-config`), and the boot
# loader settings from its configuration.nix, next to this module:
#
#   imports = [
#     ../modules
#     ../modules/platforms/existing.nix
#     ./hardware/<host>.nix
#   ];
#
# There is no option for that file: NixOS cannot import a file named by an
# option (imports are resolved before options have values). The owner's
# `system.stateVersion` wins over e3's default. Import together with
# modules/default.nix.
{ config, ... }:
{
  config = {
    e3.platform.name = "existing";

    assertions = [
      {
        assertion = config.fileSystems ? "/";
        message = "e3 platform `existing`: no root file system. Import the host's hardware-configuration.nix (nixos-generate-config) in its host configuration.";
      }
    ];
  };
}
