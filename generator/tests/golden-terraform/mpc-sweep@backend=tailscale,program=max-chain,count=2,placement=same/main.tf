# Machines of the scenario `mpc-sweep@backend=tailscale,program=max-chain,count=2,placement=same`: one module call per provider.

module "digitalocean" {
  source = "./modules/digitalocean-nixos"

  hosts = {
    "p-0" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-mpc-sweep-backend-tailscale-program-max-chain-count-2-placement-same", "role-party", "backend-tailscale", "region-ams3"]
    }
    "p-1" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-mpc-sweep-backend-tailscale-program-max-chain-count-2-placement-same", "role-party", "backend-tailscale", "region-ams3"]
    }
  }
  image_path      = var.digitalocean_image_path
  image_name      = "e3-mpc-sweep-backend-ta-f5b86253"
  spaces_region   = "ams3"
  bucket_name     = var.spaces_bucket_name
  ssh_public_keys = var.ssh_public_keys
  name_prefix     = "e3-mpc-sweep-backend-ta-f5b86253"
}

module "tailscale_authkey" {
  source = "./modules/tailscale-authkey"

  tags        = var.tailscale_tags
  description = "e3 mpc-sweep@backend=tailscale,program=max-chain,c"
}
