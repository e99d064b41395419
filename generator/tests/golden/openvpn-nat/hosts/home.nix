# home: party 1 of the e3 scenario `openvpn-nat` (digitalocean, fra1, behind `easy` NAT).
let
  addresses = import ../addresses.nix;
  privateAddresses = import ../private-addresses.nix;
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
