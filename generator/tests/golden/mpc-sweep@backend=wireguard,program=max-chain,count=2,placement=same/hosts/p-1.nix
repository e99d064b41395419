# p-1: party 1 of the e3 scenario `mpc-sweep@backend=wireguard,program=max-chain,count=2,placement=same` (digitalocean, ams3).
let
  addresses = import ../addresses.nix;
  publicKeys = import ../public-keys.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "p-1";

  e3.wireguard = {
    enable = true;
    role = "mesh";
    address = "10.9.0.2/16";
    peers = {
      p-0 = {
        publicKey = publicKeys.wireguard "p-0";
        allowedIPs = [ "10.9.0.1/32" ];
        endpoint = "${addresses.p-0}:51820";
      };
    };
  };

  e3.party = {
    enable = true;
    index = 1;
  };
}
