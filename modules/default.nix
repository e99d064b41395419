# All e3 modules that are switched on by an option. A host imports this file
# and enables what it needs:
#
#   imports = [ ../modules ../modules/platforms/digitalocean.nix ];
#   e3.common.enable = true;
#   e3.nebula.enable = true;
#   e3.party.enable = true;
#
# The platform modules (modules/platforms/*.nix) are not imported here: they
# import nixpkgs profiles (digital-ocean-config.nix, sd-image-aarch64.nix,
# qemu-guest.nix), and the module system cannot make an import depend on an
# option. A host imports exactly one of them.
{ config, lib, ... }:
let
  backends = [
    "tailscale"
    "nebula"
    "wireguard"
    "tinc"
    "openvpn"
    "direct"
  ];
  enabled = lib.filter (backend: config.e3.${backend}.enable) backends;
in
{
  imports = [
    ./base.nix
    ./cloud-nat.nix
    ./common.nix
    ./overlay.nix
    ./party.nix
    ./backends/tailscale.nix
    ./backends/headscale.nix
    ./backends/nebula.nix
    ./backends/wireguard.nix
    ./backends/tinc.nix
    ./backends/openvpn.nix
    ./backends/direct.nix
  ];

  config.assertions = [
    {
      assertion = lib.length enabled <= 1;
      message = "e3: enable at most one connectivity backend, got: ${
        lib.concatMapStringsSep ", " (b: "e3.${b}") enabled
      }.";
    }
  ];
}
