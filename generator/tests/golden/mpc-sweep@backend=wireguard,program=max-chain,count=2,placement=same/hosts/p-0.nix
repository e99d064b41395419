# p-0: party 0 of the e3 scenario `mpc-sweep@backend=wireguard,program=max-chain,count=2,placement=same` (digitalocean, ams3).
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

  networking.hostName = "p-0";

  e3.wireguard = {
    enable = true;
    role = "mesh";
    address = "10.9.0.1/16";
    peers = {
      p-1 = {
        publicKey = publicKeys.wireguard "p-1";
        allowedIPs = [ "10.9.0.2/32" ];
        endpoint = "${addresses.p-1}:51820";
      };
    };
  };

  e3.party = {
    enable = true;
    index = 0;
  };
}
