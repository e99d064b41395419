# alice: party 0 of the e3 scenario `connectivity-grid@backend=direct,nat=none+none` (digitalocean, ams3).
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "alice";

  e3.direct.enable = true;

  e3.party = {
    enable = true;
    index = 0;
  };
}
