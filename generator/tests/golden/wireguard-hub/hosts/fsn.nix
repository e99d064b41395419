# fsn: party 0 of the e3 scenario `wireguard-hub` (hetzner, fsn1, behind `easy` NAT).
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

  networking.hostName = "fsn";

  e3.wireguard = {
    enable = true;
    role = "spoke";
    address = "10.9.0.1/16";
    peers.hub = {
      publicKey = publicKeys.wireguard "hub";
      allowedIPs = [ "10.9.0.0/16" ];
      endpoint = "${addresses.hub}:51820";
    };
  };

  e3.party = {
    enable = true;
    index = 0;
  };

  # Behind the cloud NAT router of its site: its only way out.
  e3.cloudNat.party = {
    enable = true;
    interface = "eth0";
    gateway = "10.128.0.1";
  };
}
