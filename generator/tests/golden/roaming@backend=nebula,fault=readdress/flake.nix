# The pinned flake of the e3 scenario `roaming@backend=nebula,fault=readdress`. Rendered by e3: do not edit;
# change the scenario and run `e3 render roaming@backend=nebula,fault=readdress` again. Its outputs are built
# by modules/scenario/outputs.nix from data/.
{
  description = "e3 scenario roaming@backend=nebula,fault=readdress";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    import ./modules/scenario/outputs.nix {
      inherit self nixpkgs;
      root = ./.;
    };
}
