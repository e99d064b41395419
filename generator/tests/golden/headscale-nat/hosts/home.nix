# home: party 1 of the e3 scenario `headscale-nat` (digitalocean, fra1, behind `easy` NAT).
let
  addresses = import ../addresses.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "home";

  e3.tailscale = {
    enable = true;
    loginServer = "http://${addresses.control}:8080";
  };

  e3.party = {
    enable = true;
    index = 1;
    # Tailnet addresses are assigned by the control server: parties are
    # named by host name and resolved at run time (`tailscale ip -4`).
    parties = [
      "fra:11365"
      "home:11365"
      "office:11365"
    ];
    program = "secure-sum";
  };
}
