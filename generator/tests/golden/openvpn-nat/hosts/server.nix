# server: hub of the e3 scenario `openvpn-nat` (digitalocean, fra1).
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "server";

  e3.openvpn = {
    enable = true;
    role = "server";
    address = "10.9.255.1";
    clients = {
      fra = "10.9.0.1";
      home = "10.9.0.2";
      office = "10.9.0.3";
    };
  };
}
