# Machines of the scenario `nebula-nat`: one module call per provider.

module "digitalocean" {
  source = "./modules/digitalocean-nixos"

  hosts = {
    "alice" = {
      region  = "ams3"
      size    = "s-1vcpu-1gb"
      tags    = ["e3", "scenario-nebula-nat", "role-party", "backend-nebula", "region-ams3"]
      network = "lan-alice"
      public  = false
    }
    "bob" = {
      region  = "fra1"
      size    = "s-1vcpu-1gb"
      tags    = ["e3", "scenario-nebula-nat", "role-party", "backend-nebula", "region-fra1"]
      network = "lan-bob"
      public  = false
    }
    "carol" = {
      region  = "lon1"
      size    = "s-1vcpu-1gb"
      tags    = ["e3", "scenario-nebula-nat", "role-party", "backend-nebula", "region-lon1"]
      network = "lan-carol"
      public  = false
    }
    "lighthouse" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-nebula-nat", "role-lighthouse", "backend-nebula", "region-ams3"]
    }
    "alice-router" = {
      region  = "ams3"
      size    = "s-1vcpu-512mb-10gb"
      tags    = ["e3", "scenario-nebula-nat", "role-router", "backend-nebula", "region-ams3"]
      network = "lan-alice"
    }
    "bob-router" = {
      region  = "fra1"
      size    = "s-1vcpu-512mb-10gb"
      tags    = ["e3", "scenario-nebula-nat", "role-router", "backend-nebula", "region-fra1"]
      network = "lan-bob"
    }
    "carol-router" = {
      region  = "lon1"
      size    = "s-1vcpu-512mb-10gb"
      tags    = ["e3", "scenario-nebula-nat", "role-router", "backend-nebula", "region-lon1"]
      network = "lan-carol"
    }
  }
  networks = {
    "lan-alice" = {
      region   = "ams3"
      ip_range = "10.128.0.0/24"
    }
    "lan-bob" = {
      region   = "fra1"
      ip_range = "10.128.1.0/24"
    }
    "lan-carol" = {
      region   = "lon1"
      ip_range = "10.128.2.0/24"
    }
  }
  image_path      = var.digitalocean_image_path
  image_name      = "e3-nebula-nat"
  spaces_region   = "ams3"
  bucket_name     = var.spaces_bucket_name
  ssh_public_keys = var.ssh_public_keys
  name_prefix     = "e3-nebula-nat"
}
