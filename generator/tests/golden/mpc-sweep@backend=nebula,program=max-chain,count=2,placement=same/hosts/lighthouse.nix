# lighthouse: lighthouse of the e3 scenario `mpc-sweep@backend=nebula,program=max-chain,count=2,placement=same` (digitalocean, ams3).
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
