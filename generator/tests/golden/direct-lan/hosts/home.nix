# home: party 1 of the e3 scenario `direct-lan` (digitalocean, ams3, behind `easy` NAT).
let
  addresses = import ../addresses.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "home";

  e3.direct.enable = true;

  e3.party = {
    enable = true;
    index = 1;
    # Plain TCP to the parties' public addresses: fails for a party
    # behind NAT, which is the point of this baseline.
    parties = [
      "${addresses.cloud}:11365"
      "${addresses.home}:11365"
    ];
    program = "secure-sum";
  };
}
