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
  # Tailnet addresses are assigned by the control server: parties are
  # named by host name and resolved at run time (`tailscale ip -4`).
  e3.party = {
    parties = [
      "alice:11365"
      "bob:11365"
    ];
    program = "rounds";
    args = [
      "--rounds"
      "300"
    ];
  };
}
