# lighthouse: lighthouse of the e3 scenario `roaming@backend=nebula,fault=readdress` (digitalocean, ams3).
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "lighthouse";

  e3.nebula = {
    enable = true;
    isLighthouse = true;
    isRelay = true;
  };
}
