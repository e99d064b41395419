# sgp: party 2 of the e3 scenario `tailscale-3region` (digitalocean, sgp1).
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "sgp";

  e3.tailscale.enable = true;

  e3.party = {
    enable = true;
    index = 2;
  };
}
