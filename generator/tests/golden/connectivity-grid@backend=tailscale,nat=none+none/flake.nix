# The pinned flake of the e3 scenario `connectivity-grid@backend=tailscale,nat=none+none`. Rendered by e3: do not edit;
# change the scenario and run `e3 render connectivity-grid@backend=tailscale,nat=none+none` again. Its outputs are built
# by modules/scenario/outputs.nix from data/.
{
  description = "e3 scenario connectivity-grid@backend=tailscale,nat=none+none";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    import ./modules/scenario/outputs.nix {
      inherit self nixpkgs;
      root = ./.;
    };
}
