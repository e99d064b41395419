# What every host of this scenario shares; hosts/<host>.nix adds what is
# particular to one host.
let
  publicKeys = import ../public-keys.nix;
in
{
  e3.common.enable = true;
  e3.sshKeys = publicKeys.sshKeys;

  # The computation: every party runs the same program with the same ordered
  # party list; hosts/<party>.nix enables it and sets the party's index.
  e3.party = {
    parties = [
      "10.9.0.1:11365"
      "10.9.0.2:11365"
    ];
    program = "rounds";
    args = [
      "--rounds"
      "300"
    ];
  };
}
