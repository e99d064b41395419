# office: party 2 of the e3 scenario `openvpn-nat` (digitalocean, ams3, behind `hard` NAT).
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

  networking.hostName = "office";

  e3.openvpn = {
    enable = true;
    role = "client";
    server = "${addresses.server}";
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
      address = privateAddresses.office;
      prefixLength = 24;
    };
    gateway = privateAddresses.office-router;
    disablePublic = true;
  };
}
