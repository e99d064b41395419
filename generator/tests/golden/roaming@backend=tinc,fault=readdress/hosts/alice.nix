# alice: party 0 of the e3 scenario `roaming@backend=tinc,fault=readdress` (digitalocean, ams3, behind `easy` NAT).
let
  privateAddresses = import ../private-addresses.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "alice";

  e3.tinc = {
    enable = true;
    name = "alice";
    connectTo = [ "bootstrap" ];
  };

  e3.party = {
    enable = true;
    index = 0;
  };

  # Behind the cloud NAT router of its site: its only way out.
  e3.cloudNat.party = {
    enable = true;
    interface = "eth1";
    address = {
      address = privateAddresses.alice;
      prefixLength = 24;
    };
    gateway = privateAddresses.alice-router;
    disablePublic = true;
  };
}
