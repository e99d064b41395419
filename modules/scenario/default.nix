# The static library behind every rendered scenario (not a NixOS module).
# `e3 render` writes data, never Nix code: data/e3.json (what the hosts
# share, the hive's nodes, the base configurations, the VM test's facts) and
# data/hosts/<host>.json (one host's settings of e3's modules, its Colmena
# deployment and its VM in the test). The files beside this one turn that
# data into NixOS configurations (outputs.nix, host.nix), the Colmena hive
# (hive.nix) and the NixOS VM test (vmtest.nix, `mkE3Test`).
#
#   scenario = import ./modules/scenario { root = ./.; };
#
# What is only known at evaluation time is a reference in the data:
#   { _e3 = "address"; host; prefix?; suffix?; }  where a host is reached
#   { _e3 = "privateAddress"; host; }            its cloud NAT site address
#   { _e3 = "publicKey"; backend; host; }        its WireGuard/tinc key
# `resolve` replaces them for a deployment, `resolveWith` for the VM test.
{ root }:
let
  readJSON = file: builtins.fromJSON (builtins.readFile file);
  data = readJSON (root + "/data/e3.json");

  resolveWith =
    refs:
    let
      go =
        v:
        if builtins.isAttrs v then
          if v ? _e3 then refs.${v._e3} v else builtins.mapAttrs (_: go) v
        else if builtins.isList v then
          map go v
        else
          v;
    in
    go;

  addresses = import ./addresses.nix { inherit root data; };
  privateAddresses = import ./private-addresses.nix { inherit root data; };
  publicKeys = import ./public-keys.nix { inherit root data; };
in
{
  inherit
    root
    data
    resolveWith
    addresses
    publicKeys
    ;

  # Every host of the plan, by name.
  hosts = builtins.listToAttrs (
    map (name: {
      inherit name;
      value = readJSON (root + "/data/hosts/${name}.json");
    }) data.hosts
  );

  # For a deployment: addresses from the scenario or hosts.json, keys from
  # public-keys/.
  resolve = resolveWith {
    address = r: (r.prefix or "") + addresses.${r.host} + (r.suffix or "");
    privateAddress = r: privateAddresses.${r.host};
    publicKey = r: publicKeys.${r.backend} r.host;
  };

  # `f name` for each name, as an attribute set.
  attrsOf =
    f: names:
    builtins.listToAttrs (
      map (name: {
        inherit name;
        value = f name;
      }) names
    );
}
