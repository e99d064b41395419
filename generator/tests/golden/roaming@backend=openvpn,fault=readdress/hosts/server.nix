# server: hub of the e3 scenario `roaming@backend=openvpn,fault=readdress` (digitalocean, ams3).
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
      alice = "10.9.0.1";
      bob = "10.9.0.2";
    };
  };
}
