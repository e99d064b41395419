# lighthouse: lighthouse of the e3 scenario `connectivity-grid@backend=nebula,nat=none+none` (digitalocean, ams3).
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
