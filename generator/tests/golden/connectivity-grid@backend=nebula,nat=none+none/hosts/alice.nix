# alice: party 0 of the e3 scenario `connectivity-grid@backend=nebula,nat=none+none` (digitalocean, ams3).
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

  e3.nebula = {
    enable = true;
    lighthouses = {
      "10.9.255.1" = [ "${addresses.lighthouse}:4242" ];
    };
    relays = [ "10.9.255.1" ];
  };

  e3.party = {
    enable = true;
    index = 0;
  };
}
