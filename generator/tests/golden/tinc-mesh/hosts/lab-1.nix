# lab-1: party 1 of the e3 scenario `tinc-mesh` (hetzner, nbg1, behind `easy` NAT).
{
  imports = [
    ../modules
    ../modules/platforms/hetzner.nix
    ./common.nix
  ];

  networking.hostName = "lab-1";

  e3.tinc = {
    enable = true;
    name = "lab_1";
    connectTo = [ "bootstrap" ];
  };

  e3.party = {
    enable = true;
    index = 1;
  };

  # Behind the cloud NAT router of its site: its only way out.
  e3.cloudNat.party = {
    enable = true;
    interface = "eth0";
    gateway = "10.128.0.1";
  };
}
