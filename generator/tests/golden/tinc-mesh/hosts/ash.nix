# ash: party 2 of the e3 scenario `tinc-mesh` (hetzner, ash, behind `easyaf` NAT).
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

  networking.hostName = "ash";

  e3.tinc = {
    enable = true;
    name = "ash";
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
    index = 2;
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
