# What every host of this scenario shares; hosts/<host>.nix adds what is
# particular to one host.
let
  addresses = import ../addresses.nix;
  publicKeys = import ../public-keys.nix;
in
{
  e3.common.enable = true;
  e3.sshKeys = publicKeys.sshKeys;

  # The tinc network: the same host table on every member.
  e3.tinc = {
    prefixLength = 16;
    hosts = {
      alice = {
        address = "10.9.0.1";
        publicKey = publicKeys.tinc "alice";
      };
      bob = {
        address = "10.9.0.2";
        publicKey = publicKeys.tinc "bob";
      };
      bootstrap = {
        address = "10.9.255.1";
        endpoint = addresses.bootstrap;
        publicKey = publicKeys.tinc "bootstrap";
      };
    };
  };

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
