# nyc: party 1 of the e3 scenario `tailscale-3region` (digitalocean, nyc3).
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "nyc";

  e3.tailscale.enable = true;

  e3.party = {
    enable = true;
    index = 1;
  };
}
