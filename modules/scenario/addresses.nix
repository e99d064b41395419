# Where each host of the hive is reached (Colmena's targetHost, and the
# public endpoints of lighthouses, hubs and control servers): the address the
# scenario gives (data/e3.json, `addresses`), or the one Terraform writes to
# hosts.json ({ "<host>": "<ip>", ... }) when it provisions the machines.
# In flake mode, `git add hosts.json` first: flakes only see tracked files.
# A missing entry throws naming the host, lazily: other hosts still evaluate.
{ root, data }:
let
  file = root + "/hosts.json";
  provisioned = if builtins.pathExists file then builtins.fromJSON (builtins.readFile file) else { };
  fromTerraform =
    host:
    provisioned.${host}
      or (throw "e3: no address for host `${host}`: hosts.json is missing or has no entry for it (run `terraform apply` in terraform/, or `e3 deploy`; with flakes also `git add hosts.json`)");
in
builtins.mapAttrs (
  host: address: if address == null then fromTerraform host else address
) data.addresses
