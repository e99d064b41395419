# ams: party 0 of the e3 scenario `tailscale-3region` (digitalocean, ams3).
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "ams";

  e3.tailscale.enable = true;

  e3.party = {
    enable = true;
    index = 0;
  };
}
