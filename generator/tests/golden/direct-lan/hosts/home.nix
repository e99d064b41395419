# home: party 1 of the e3 scenario `direct-lan` (digitalocean, ams3, behind `easy` NAT).
let
  privateAddresses = import ../private-addresses.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "home";

  e3.direct.enable = true;

  e3.party = {
    enable = true;
    index = 1;
  };

  # Behind the cloud NAT router of its site: its only way out.
  e3.cloudNat.party = {
    enable = true;
    interface = "eth1";
    address = {
      address = privateAddresses.home;
      prefixLength = 24;
    };
    gateway = privateAddresses.home-router;
    disablePublic = true;
  };
}
