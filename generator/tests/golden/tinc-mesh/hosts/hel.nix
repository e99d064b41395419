# hel: party 3 of the e3 scenario `tinc-mesh` (hetzner, hel1).
{
  imports = [
    ../modules
    ../modules/platforms/hetzner.nix
    ./common.nix
  ];

  networking.hostName = "hel";

  e3.tinc = {
    enable = true;
    name = "hel";
    connectTo = [ "bootstrap" ];
  };

  e3.party = {
    enable = true;
    index = 3;
  };
}
