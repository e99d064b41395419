# One host of the hive as a NixOS module, for `nixosConfigurations.<host>`
# and the hive's node <host>: e3's modules, the host's platform module, the
# settings every host shares (data/e3.json, `common`) and its own
# (data/hosts/<host>.json, `deploy.settings`), with addresses and public
# keys resolved. Needs the special arguments `e3Scenario` (./default.nix
# applied to the rendered directory) and `e3Host` (the host's name).
{ e3Scenario, e3Host, ... }:
let
  inherit (e3Scenario) data resolve root;
  deploy = e3Scenario.hosts.${e3Host}.deploy;
in
{
  imports = [
    ../.
    (resolve data.common)
    (resolve deploy.settings)
  ]
  ++ (if deploy.platformModule == null then [ ] else [ (../. + "/${deploy.platformModule}") ])
  # The machine's own hardware configuration (/etc/nixos/hardware-configuration.nix):
  # put it in secrets/NAME/public/hardware/<host>.nix and run `e3 render NAME`.
  ++ (if deploy.hardware then [ (root + "/public-keys/hardware/${e3Host}.nix") ] else [ ]);

  networking.hostName = e3Host;
  e3.common.enable = true;
  e3.sshKeys = e3Scenario.publicKeys.sshKeys;
}
