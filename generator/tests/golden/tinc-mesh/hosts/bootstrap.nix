# bootstrap: bootstrap of the e3 scenario `tinc-mesh` (hetzner, nbg1).
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
  };
}
