# Machines of the scenario `headscale-nat`: one module call per provider.

module "digitalocean" {
  source = "./modules/digitalocean-nixos"

  hosts = {
    "fra" = {
      region = "fra1"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-headscale-nat", "role-party", "backend-headscale", "region-fra1"]
    }
    "home" = {
      region  = "fra1"
      size    = "s-1vcpu-1gb"
      tags    = ["e3", "scenario-headscale-nat", "role-party", "backend-headscale", "region-fra1"]
      network = "lan-home"
      public  = false
    }
    "office" = {
      region  = "ams3"
      size    = "s-1vcpu-1gb"
      tags    = ["e3", "scenario-headscale-nat", "role-party", "backend-headscale", "region-ams3"]
      network = "lan-office"
      public  = false
    }
    "control" = {
      region = "fra1"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-headscale-nat", "role-control", "backend-headscale", "region-fra1"]
    }
    "home-router" = {
      region  = "fra1"
      size    = "s-1vcpu-512mb-10gb"
      tags    = ["e3", "scenario-headscale-nat", "role-router", "backend-headscale", "region-fra1"]
      network = "lan-home"
    }
    "office-router" = {
      region  = "ams3"
      size    = "s-1vcpu-512mb-10gb"
      tags    = ["e3", "scenario-headscale-nat", "role-router", "backend-headscale", "region-ams3"]
      network = "lan-office"
    }
  }
  networks = {
    "lan-home" = {
      region   = "fra1"
      ip_range = "10.128.0.0/24"
    }
    "lan-office" = {
      region   = "ams3"
      ip_range = "10.128.1.0/24"
    }
  }
  image_path      = var.digitalocean_image_path
  image_name      = "e3-headscale-nat"
  spaces_region   = "fra1"
  bucket_name     = var.spaces_bucket_name
  ssh_public_keys = var.ssh_public_keys
  name_prefix     = "e3-headscale-nat"
}
