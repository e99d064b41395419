# What every host of this scenario shares; hosts/<host>.nix adds what is
# particular to one host.
let
  addresses = import ../addresses.nix;
  publicKeys = import ../public-keys.nix;
in
{
  e3.common.enable = true;
  e3.sshKeys = publicKeys.sshKeys;

  # The computation: every party runs the same program with the same ordered
  # party list; hosts/<party>.nix enables it and sets the party's index.
  # Plain TCP to the parties' public addresses: fails for a party
  # behind NAT, which is the point of this baseline.
  e3.party = {
    parties = [
      "${addresses.p-0}:11365"
      "${addresses.p-1}:11365"
    ];
    program = "max-chain";
    args = [
      "--steps"
      "6"
    ];
  };
}
