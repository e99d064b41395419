# bob: party 1 of the e3 scenario `roaming@backend=wireguard,fault=readdress` (digitalocean, ams3).
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
    role = "spoke";
    address = "10.9.0.2/16";
    peers.hub = {
      publicKey = publicKeys.wireguard "hub";
      allowedIPs = [ "10.9.0.0/16" ];
      endpoint = "${addresses.hub}:51820";
    };
  };

  e3.party = {
    enable = true;
    index = 1;
  };
}
