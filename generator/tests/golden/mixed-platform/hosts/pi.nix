# pi: party 2 of the e3 scenario `mixed-platform` (raspberry-pi, ams3, behind `easy` NAT).
let
  addresses = import ../addresses.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/raspberry-pi.nix
    ./common.nix
  ];

  networking.hostName = "pi";

  e3.nebula = {
    enable = true;
    lighthouses = {
      "10.9.255.1" = [ "${addresses.lighthouse}:4242" ];
    };
    relays = [ "10.9.255.1" ];
  };

  e3.party = {
    enable = true;
    index = 2;
  };
}
