# The Colmena hive of this e3 scenario:
#
#   E3_SECRETS=/path/to/secrets/NAME colmena apply -f hive.nix
#
# A plain (non-flake) hive: it fetches the nixpkgs pinned in flake.lock
# itself, and reads hosts.json from the working tree (untracked files are
# fine here; flakes only see files added to git). The flake passes its own
# nixpkgs input instead (`outputs.colmena`). Rendered by e3: the hosts are
# data/hosts/*.json, the hive is built by modules/scenario/hive.nix.
{
  nixpkgs ? null,
}:
import ./modules/scenario/hive.nix {
  inherit nixpkgs;
  root = ./.;
}
