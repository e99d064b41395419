# office: party 2 of the e3 scenario `headscale-nat` (digitalocean, ams3, behind `hard` NAT).
let
  addresses = import ../addresses.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "office";

  e3.tailscale = {
    enable = true;
    loginServer = "http://${addresses.control}:8080";
  };

  e3.party = {
    enable = true;
    index = 2;
  };
}
