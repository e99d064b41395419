# p-0: party 0 of the e3 scenario `mpc-sweep@backend=nebula,program=max-chain,count=2,placement=same` (digitalocean, ams3).
let
  addresses = import ../addresses.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "p-0";

  e3.nebula = {
    enable = true;
    lighthouses = {
      "10.9.255.1" = [ "${addresses.lighthouse}:4242" ];
    };
    relays = [ "10.9.255.1" ];
  };

  e3.party = {
    enable = true;
    index = 0;
  };
}
