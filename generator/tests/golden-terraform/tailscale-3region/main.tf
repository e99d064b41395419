# Machines of the scenario `tailscale-3region`: one module call per provider.

module "digitalocean" {
  source = "./modules/digitalocean-nixos"

  hosts = {
    "ams" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-tailscale-3region", "role-party", "backend-tailscale", "region-ams3"]
    }
    "nyc" = {
      region = "nyc3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-tailscale-3region", "role-party", "backend-tailscale", "region-nyc3"]
    }
    "sgp" = {
      region = "sgp1"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-tailscale-3region", "role-party", "backend-tailscale", "region-sgp1"]
    }
  }
  image_path      = var.digitalocean_image_path
  image_name      = "e3-tailscale-3region"
  spaces_region   = "ams3"
  bucket_name     = var.spaces_bucket_name
  ssh_public_keys = var.ssh_public_keys
  name_prefix     = "e3-tailscale-3region"
}

module "tailscale_authkey" {
  source = "./modules/tailscale-authkey"

  tags        = var.tailscale_tags
  description = "e3 tailscale-3region"
}
