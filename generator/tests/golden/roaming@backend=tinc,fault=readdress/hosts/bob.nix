# bob: party 1 of the e3 scenario `roaming@backend=tinc,fault=readdress` (digitalocean, ams3).
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "bob";

  e3.tinc = {
    enable = true;
    name = "bob";
    connectTo = [ "bootstrap" ];
  };

  e3.party = {
    enable = true;
    index = 1;
  };
}
