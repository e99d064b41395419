# home: party 1 of the e3 scenario `headscale-nat` (digitalocean, fra1, behind `easy` NAT).
let
  addresses = import ../addresses.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "home";

  e3.tailscale = {
    enable = true;
    loginServer = "http://${addresses.control}:8080";
  };

  e3.party = {
    enable = true;
    index = 1;
  };
}
