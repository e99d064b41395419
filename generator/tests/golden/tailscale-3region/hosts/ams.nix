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
    # Tailnet addresses are assigned by the control server: parties are
    # named by host name and resolved at run time (`tailscale ip -4`).
    parties = [
      "ams:11365"
      "nyc:11365"
      "sgp:11365"
    ];
    program = "secure-sum";
  };
}
