# nbg: party 2 of the e3 scenario `wireguard-hub` (hetzner, nbg1, behind `cgnat` NAT).
let
  addresses = import ../addresses.nix;
  publicKeys = import ../public-keys.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/hetzner.nix
    ./common.nix
  ];

  networking.hostName = "nbg";

  e3.wireguard = {
    enable = true;
    role = "spoke";
    address = "10.9.0.3/16";
    peers.hub = {
      publicKey = publicKeys.wireguard "hub";
      allowedIPs = [ "10.9.0.0/16" ];
      endpoint = "${addresses.hub}:51820";
    };
  };

  e3.party = {
    enable = true;
    index = 2;
  };

  # Behind the cloud NAT router of its site: its only way out.
  e3.cloudNat.party = {
    enable = true;
    interface = "eth0";
    gateway = "10.128.2.1";
  };
}
