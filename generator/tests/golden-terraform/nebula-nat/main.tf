# Machines of the scenario `nebula-nat`: one module call per provider.

module "digitalocean" {
  source = "./modules/digitalocean-nixos"

  hosts = {
    "alice" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-nebula-nat", "role-party", "backend-nebula", "region-ams3"]
    }
    "bob" = {
      region = "fra1"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-nebula-nat", "role-party", "backend-nebula", "region-fra1"]
    }
    "carol" = {
      region = "lon1"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-nebula-nat", "role-party", "backend-nebula", "region-lon1"]
    }
    "lighthouse" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-nebula-nat", "role-lighthouse", "backend-nebula", "region-ams3"]
    }
  }
  image_path      = var.digitalocean_image_path
  image_name      = "e3-nebula-nat"
  spaces_region   = "ams3"
  bucket_name     = var.spaces_bucket_name
  ssh_public_keys = var.ssh_public_keys
  name_prefix     = "e3-nebula-nat"
}
