# home: party 1 of the e3 scenario `direct-lan` (digitalocean, ams3, behind `easy` NAT).
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
}
