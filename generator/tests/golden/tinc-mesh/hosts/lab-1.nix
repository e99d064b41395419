# lab-1: party 1 of the e3 scenario `tinc-mesh` (hetzner, nbg1, behind `easy` NAT).
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

  networking.hostName = "lab-1";

  e3.tinc = {
    enable = true;
    name = "lab_1";
    prefixLength = 16;
    hosts = {
      lab_0 = {
        address = "10.9.0.1";
        publicKey = publicKeys.tinc "lab-0";
      };
      lab_1 = {
        address = "10.9.0.2";
        publicKey = publicKeys.tinc "lab-1";
      };
      ash = {
        address = "10.9.0.3";
        publicKey = publicKeys.tinc "ash";
      };
      hel = {
        address = "10.9.0.4";
        publicKey = publicKeys.tinc "hel";
      };
      bootstrap = {
        address = "10.9.255.1";
        endpoint = addresses.bootstrap;
        publicKey = publicKeys.tinc "bootstrap";
      };
    };
    connectTo = [ "bootstrap" ];
  };

  e3.party = {
    enable = true;
    index = 1;
    parties = [
      "10.9.0.1:11365"
      "10.9.0.2:11365"
      "10.9.0.3:11365"
      "10.9.0.4:11365"
    ];
    program = "rounds";
    args = [
      "--rounds"
      "50"
    ];
  };
}
