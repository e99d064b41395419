# The NixOS VM test of this e3 scenario: its NAT topology with real routers,
# its overlay, and a run of its program on every party. Rendered by e3: the
# hosts are data/hosts/*.json, the test is built by modules/scenario/vmtest.nix.
#
#   nix build .#checks.x86_64-linux.nat -L    # or `nix flake check`; needs KVM
#
# The result holds e3-summary.json: each site's NAT mapping and filtering,
# each pair's path (direct or relayed), each party's result.
{ pkgs }:
import ../modules/scenario/vmtest.nix {
  inherit pkgs;
  root = ../.;
}
