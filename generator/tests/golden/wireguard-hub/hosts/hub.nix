# hub: hub of the e3 scenario `wireguard-hub` (hetzner, fsn1).
let
  publicKeys = import ../public-keys.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/hetzner.nix
    ./common.nix
  ];

  networking.hostName = "hub";

  e3.wireguard = {
    enable = true;
    role = "hub";
    address = "10.9.255.1/16";
    peers = {
      fsn = {
        publicKey = publicKeys.wireguard "fsn";
        allowedIPs = [ "10.9.0.1/32" ];
      };
      hel = {
        publicKey = publicKeys.wireguard "hel";
        allowedIPs = [ "10.9.0.2/32" ];
      };
      nbg = {
        publicKey = publicKeys.wireguard "nbg";
        allowedIPs = [ "10.9.0.3/32" ];
      };
    };
  };
}
