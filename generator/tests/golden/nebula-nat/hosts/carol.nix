# carol: party 2 of the e3 scenario `nebula-nat` (digitalocean, lon1, behind `hard` NAT).
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

  networking.hostName = "carol";

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

  # Behind the cloud NAT router of its site: its only way out.
  e3.cloudNat.party = {
    enable = true;
    interface = "eth1";
    address = {
      address = privateAddresses.carol;
      prefixLength = 24;
    };
    gateway = privateAddresses.carol-router;
    disablePublic = true;
  };
}
