# alice: party 0 of the e3 scenario `connectivity-grid@backend=tailscale,nat=none+none` (digitalocean, ams3).
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "alice";

  e3.tailscale.enable = true;

  e3.party = {
    enable = true;
    index = 0;
  };
}
