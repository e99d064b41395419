# Where each deployed host is reached (Colmena's targetHost, and the public
# endpoints of lighthouses, hubs and control servers): the address the
# scenario gives, or the one Terraform writes to hosts.json
# ({ "<host>": "<ip>", ... }) when it provisions the machines.
# In flake mode, `git add hosts.json` first: flakes only see tracked files.
let
  file = ./hosts.json;
  provisioned = if builtins.pathExists file then builtins.fromJSON (builtins.readFile file) else { };
  fromTerraform =
    host:
    provisioned.${host}
      or (throw "e3: no address for host `${host}`: hosts.json is missing or has no entry for it (run `terraform apply` in terraform/, or `e3 deploy`; with flakes also `git add hosts.json`)");
in
{
  alice = fromTerraform "alice";
  bob = fromTerraform "bob";
  server = fromTerraform "server";
  alice-router = fromTerraform "alice-router";
}
