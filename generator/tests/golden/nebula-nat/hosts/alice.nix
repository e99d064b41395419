# alice: party 0 of the e3 scenario `nebula-nat` (digitalocean, ams3, behind `easy` NAT).
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
    parties = [
      "10.9.0.1:11365"
      "10.9.0.2:11365"
      "10.9.0.3:11365"
    ];
    program = "secure-sum";
  };
}
