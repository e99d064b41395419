# ash: party 2 of the e3 scenario `tinc-mesh` (hetzner, ash, behind `easyaf` NAT).
{
  imports = [
    ../modules
    ../modules/platforms/hetzner.nix
    ./common.nix
  ];

  networking.hostName = "ash";

  e3.tinc = {
    enable = true;
    name = "ash";
    connectTo = [ "bootstrap" ];
  };

  e3.party = {
    enable = true;
    index = 2;
  };

  # Behind the cloud NAT router of its site: its only way out.
  e3.cloudNat.party = {
    enable = true;
    interface = "eth0";
    gateway = "10.128.1.1";
  };
}
