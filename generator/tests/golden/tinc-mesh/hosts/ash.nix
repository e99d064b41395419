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
}
