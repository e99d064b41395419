# alice: party 0 of the e3 scenario `connectivity-grid@backend=openvpn,nat=none+none` (digitalocean, ams3).
let
  addresses = import ../addresses.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "alice";

  e3.openvpn = {
    enable = true;
    role = "client";
    server = "${addresses.server}";
  };

  e3.party = {
    enable = true;
    index = 0;
  };
}
