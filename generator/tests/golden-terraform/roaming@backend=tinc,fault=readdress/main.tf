# Machines of the scenario `roaming@backend=tinc,fault=readdress`: one module call per provider.

module "digitalocean" {
  source = "./modules/digitalocean-nixos"

  hosts = {
    "alice" = {
      region  = "ams3"
      size    = "s-1vcpu-1gb"
      tags    = ["e3", "scenario-roaming-backend-tinc-fault-readdress", "role-party", "backend-tinc", "region-ams3"]
      network = "lan-alice"
      public  = false
    }
    "bob" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-roaming-backend-tinc-fault-readdress", "role-party", "backend-tinc", "region-ams3"]
    }
    "bootstrap" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-roaming-backend-tinc-fault-readdress", "role-bootstrap", "backend-tinc", "region-ams3"]
    }
    "alice-router" = {
      region  = "ams3"
      size    = "s-1vcpu-512mb-10gb"
      tags    = ["e3", "scenario-roaming-backend-tinc-fault-readdress", "role-router", "backend-tinc", "region-ams3"]
      network = "lan-alice"
    }
  }
  networks = {
    "lan-alice" = {
      region   = "ams3"
      ip_range = "10.128.0.0/24"
    }
  }
  image_path      = var.digitalocean_image_path
  image_name      = "e3-roaming-backend-tinc-2b4adf7a"
  spaces_region   = "ams3"
  bucket_name     = var.spaces_bucket_name
  ssh_public_keys = var.ssh_public_keys
  name_prefix     = "e3-roaming-backend-tinc-2b4adf7a"
}
