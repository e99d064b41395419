# What every host of this scenario shares.
{
  e3.common.enable = true;
  e3.sshKeys = (import ../public-keys.nix).sshKeys;
}
