# alice: party 0 of the e3 scenario `connectivity-grid@backend=wireguard,nat=none+none` (digitalocean, ams3).
let
  addresses = import ../addresses.nix;
  publicKeys = import ../public-keys.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "alice";

  e3.wireguard = {
    enable = true;
    role = "mesh";
    address = "10.9.0.1/16";
    peers = {
      bob = {
        publicKey = publicKeys.wireguard "bob";
        allowedIPs = [ "10.9.0.2/32" ];
        endpoint = "${addresses.bob}:51820";
      };
    };
  };

  e3.party = {
    enable = true;
    index = 0;
  };
}
