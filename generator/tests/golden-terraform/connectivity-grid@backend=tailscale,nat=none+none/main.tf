# Machines of the scenario `connectivity-grid@backend=tailscale,nat=none+none`: one module call per provider.

module "digitalocean" {
  source = "./modules/digitalocean-nixos"

  hosts = {
    "alice" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-connectivity-grid-backend-tailscale-nat-none-none", "role-party", "backend-tailscale", "region-ams3"]
    }
    "bob" = {
      region = "fra1"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-connectivity-grid-backend-tailscale-nat-none-none", "role-party", "backend-tailscale", "region-fra1"]
    }
  }
  image_path      = var.digitalocean_image_path
  image_name      = "e3-connectivity-grid-ba-4481333a"
  spaces_region   = "ams3"
  bucket_name     = var.spaces_bucket_name
  ssh_public_keys = var.ssh_public_keys
  name_prefix     = "e3-connectivity-grid-ba-4481333a"
}

module "tailscale_authkey" {
  source = "./modules/tailscale-authkey"

  tags        = var.tailscale_tags
  description = "e3 connectivity-grid@backend=tailscale,nat=none+no"
}
