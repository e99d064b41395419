# Machines of the scenario `direct-lan`: one module call per provider.

module "digitalocean" {
  source = "./modules/digitalocean-nixos"

  hosts = {
    "cloud" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-direct-lan", "role-party", "backend-direct", "region-ams3"]
    }
    "home" = {
      region  = "ams3"
      size    = "s-1vcpu-1gb"
      tags    = ["e3", "scenario-direct-lan", "role-party", "backend-direct", "region-ams3"]
      network = "lan-home"
      public  = false
    }
    "home-router" = {
      region  = "ams3"
      size    = "s-1vcpu-512mb-10gb"
      tags    = ["e3", "scenario-direct-lan", "role-router", "backend-direct", "region-ams3"]
      network = "lan-home"
    }
  }
  networks = {
    "lan-home" = {
      region   = "ams3"
      ip_range = "10.128.0.0/24"
    }
  }
  image_path      = var.digitalocean_image_path
  image_name      = "e3-direct-lan"
  spaces_region   = "ams3"
  bucket_name     = var.spaces_bucket_name
  ssh_public_keys = var.ssh_public_keys
  name_prefix     = "e3-direct-lan"
}
