# bootstrap: bootstrap of the e3 scenario `connectivity-grid@backend=tinc,nat=none+none` (digitalocean, ams3).
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "bootstrap";

  e3.tinc = {
    enable = true;
    name = "bootstrap";
  };
}
