# bootstrap: bootstrap of the e3 scenario `roaming@backend=tinc,fault=readdress` (digitalocean, ams3).
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
