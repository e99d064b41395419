# cloud: party 0 of the e3 scenario `direct-lan` (digitalocean, ams3).
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "cloud";

  e3.direct.enable = true;

  e3.party = {
    enable = true;
    index = 0;
  };
}
