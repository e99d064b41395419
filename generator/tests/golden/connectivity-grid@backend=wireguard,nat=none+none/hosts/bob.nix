# bob: party 1 of the e3 scenario `connectivity-grid@backend=wireguard,nat=none+none` (digitalocean, fra1).
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

  networking.hostName = "bob";

  e3.wireguard = {
    enable = true;
    role = "mesh";
    address = "10.9.0.2/16";
    peers = {
      alice = {
        publicKey = publicKeys.wireguard "alice";
        allowedIPs = [ "10.9.0.1/32" ];
        endpoint = "${addresses.alice}:51820";
      };
    };
  };

  e3.party = {
    enable = true;
    index = 1;
  };
}
