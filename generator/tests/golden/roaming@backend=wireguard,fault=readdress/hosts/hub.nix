# hub: hub of the e3 scenario `roaming@backend=wireguard,fault=readdress` (digitalocean, ams3).
let
  publicKeys = import ../public-keys.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "hub";

  e3.wireguard = {
    enable = true;
    role = "hub";
    address = "10.9.255.1/16";
    peers = {
      alice = {
        publicKey = publicKeys.wireguard "alice";
        allowedIPs = [ "10.9.0.1/32" ];
      };
      bob = {
        publicKey = publicKeys.wireguard "bob";
        allowedIPs = [ "10.9.0.2/32" ];
      };
    };
  };
}
