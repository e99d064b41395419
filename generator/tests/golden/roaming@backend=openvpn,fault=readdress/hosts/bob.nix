# bob: party 1 of the e3 scenario `roaming@backend=openvpn,fault=readdress` (digitalocean, ams3).
let
  addresses = import ../addresses.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "bob";

  e3.openvpn = {
    enable = true;
    role = "client";
    server = "${addresses.server}";
  };

  e3.party = {
    enable = true;
    index = 1;
  };
}
