# lighthouse: lighthouse of the e3 scenario `mixed-platform` (digitalocean, ams3).
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
