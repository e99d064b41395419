# Small helpers shared by the e3 modules. Imported with
# `import ./lib.nix { inherit lib; }`; this file is not a NixOS module.
{ lib }:
{
  # Type of an option that names a file holding a secret. A string, never a
  # Nix path: a path literal would copy the secret into the world-readable
  # Nix store. The file is expected outside the store, normally uploaded by
  # Colmena's `deployment.keys` to /run/keys.
  secretFile =
    lib.types.addCheck lib.types.str (
      s: lib.hasPrefix "/" s && !lib.hasPrefix "${builtins.storeDir}/" s
    )
    // {
      description = "absolute path of a file outside the Nix store";
    };
}
