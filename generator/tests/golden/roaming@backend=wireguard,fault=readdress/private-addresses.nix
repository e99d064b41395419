# Addresses on the private networks of the cloud NAT sites: fixed by e3 where
# the cloud lets it choose (Hetzner), else from private-addresses.json
# ({ "<host>": "<ip>", ... }), which `e3 deploy` writes from Terraform.
let
  file = ./private-addresses.json;
  provisioned = if builtins.pathExists file then builtins.fromJSON (builtins.readFile file) else { };
  fromTerraform =
    host:
    provisioned.${host}
      or (throw "e3: no private address for host `${host}`: private-addresses.json is missing or has no entry for it (run `e3 deploy`; with flakes also `git add private-addresses.json`)");
in
{
  alice = fromTerraform "alice";
  alice-router = fromTerraform "alice-router";
}
