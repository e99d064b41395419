# bootstrap: bootstrap of the e3 scenario `tinc-mesh` (hetzner, nbg1).
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

  networking.hostName = "bootstrap";

  e3.tinc = {
    enable = true;
    name = "bootstrap";
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
  };
}
