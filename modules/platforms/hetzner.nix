# A Hetzner Cloud VM (x86_64: CX Gen 3, CPX Gen 2, CCX types; e3's catalogue
# lists the shared ones). These boot with legacy
# BIOS from a virtio-scsi disk, /dev/sda; IPv4 comes from DHCP.
#
# Disk layout, fixed here because disko is not an input of the rendered
# flake: an MBR table with one partition spanning the disk, ext4, label
# `nixos`, GRUB in the MBR. The partition and file system grow with the
# disk on boot.
#
# Installing over SSH from Hetzner's rescue system with nixos-anywhere:
# nixos-anywhere builds and runs `config.system.build.diskoScript` of the
# target configuration (it normally comes from disko). This module defines
# that attribute itself, as a script that partitions, formats and mounts
# the disk at /mnt, so
#
#   nixos-anywhere --flake .#base-hetzner root@<address>
#
# works without disko. e3's Terraform module runs it (install.sh) with the
# generic base configuration; root's SSH keys are carried over from the
# bootstrap image, where Hetzner put the project's keys. The same script can be run by hand in the rescue
# system, followed by `nixos-install --flake .#<host>`.
# Import together with modules/default.nix.
{
  config,
  lib,
  modulesPath,
  pkgs,
  ...
}:
let
  inherit (lib) mkDefault mkOption types;

  cfg = config.e3.platform.hetzner;

  # Executable store files, like disko's own scripts, so that nixos-anywhere
  # can copy them to the target and run them.
  binPath = lib.makeBinPath [
    pkgs.coreutils
    pkgs.e2fsprogs
    pkgs.util-linux
  ];

  mountScript = pkgs.writeShellScript "e3-hetzner-mount" ''
    set -euo pipefail
    export PATH=${binPath}:$PATH
    mkdir -p /mnt
    mount /dev/disk/by-label/nixos /mnt
  '';

  formatScript = pkgs.writeShellScript "e3-hetzner-format" ''
    set -euo pipefail
    export PATH=${binPath}:$PATH
    disk=${lib.escapeShellArg cfg.disk}
    part="''${disk}1"
    umount --recursive /mnt 2>/dev/null || true
    wipefs --all --force "$disk"
    printf 'label: dos\n,,83,*\n' | sfdisk --wipe always --wipe-partitions always "$disk"
    if command -v udevadm >/dev/null; then
      udevadm settle || true
    fi
    for _ in $(seq 10); do
      [ -b "$part" ] && break
      sleep 1
    done
    mkfs.ext4 -F -L nixos "$part"
    mkdir -p /mnt
    mount "$part" /mnt
  '';
in
{
  imports = [ (modulesPath + "/profiles/qemu-guest.nix") ];

  options.e3.platform.hetzner = {
    disk = mkOption {
      type = types.str;
      default = "/dev/sda";
      example = "/dev/sda";
      description = ''
        The disk that holds GRUB and the root file system. The format
        script names the partition `<disk>1`, so give a `/dev/sdX` or
        `/dev/vdX` style name.
      '';
    };
  };

  config = {
    e3.platform.name = "hetzner";

    nixpkgs.hostPlatform = mkDefault "x86_64-linux";

    boot.loader.grub = {
      enable = true;
      device = cfg.disk;
    };
    boot.growPartition = true;
    boot.initrd.availableKernelModules = [
      "ata_piix"
      "sd_mod"
      "sr_mod"
      "virtio_pci"
      "virtio_scsi"
    ];

    fileSystems."/" = {
      device = "/dev/disk/by-label/nixos";
      fsType = "ext4";
      autoResize = true;
    };

    networking.useDHCP = mkDefault true;

    # eth0 the public NIC (or, on a server without one, its first network),
    # eth1 the next network, from the first boot of the base system on:
    # e3's cloud NAT rules (modules/cloud-nat.nix) name these interfaces.
    networking.usePredictableInterfaceNames = false;

    # Attribute names nixos-anywhere builds and runs on the target
    # (`<mode>Script` for `--disko-mode disko|mount`, `<mode>ScriptNoDeps`
    # with `--no-disko-deps`; these scripts are small either way).
    system.build = {
      inherit mountScript;
      diskoScript = formatScript;
      diskoScriptNoDeps = formatScript;
      mountScriptNoDeps = mountScript;
    };
  };
}
