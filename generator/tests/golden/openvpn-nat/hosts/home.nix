# home: party 1 of the e3 scenario `openvpn-nat` (digitalocean, fra1, behind `easy` NAT).
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

  e3.openvpn = {
    enable = true;
    role = "client";
    server = "${addresses.server}";
  };

  e3.party = {
    enable = true;
    index = 1;
  };
}
