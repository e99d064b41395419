# The pinned flake of the e3 scenario `mpc-sweep@backend=direct,program=max-chain,count=2,placement=same`. Rendered by e3: do not edit;
# change the scenario and run `e3 render mpc-sweep@backend=direct,program=max-chain,count=2,placement=same` again. Its outputs are built
# by modules/scenario/outputs.nix from data/.
{
  description = "e3 scenario mpc-sweep@backend=direct,program=max-chain,count=2,placement=same";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    import ./modules/scenario/outputs.nix {
      inherit self nixpkgs;
      root = ./.;
    };
}
