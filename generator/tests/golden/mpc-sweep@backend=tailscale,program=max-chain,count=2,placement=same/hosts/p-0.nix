# p-0: party 0 of the e3 scenario `mpc-sweep@backend=tailscale,program=max-chain,count=2,placement=same` (digitalocean, ams3).
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "p-0";

  e3.tailscale.enable = true;

  e3.party = {
    enable = true;
    index = 0;
  };
}
