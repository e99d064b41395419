# Machines of the scenario `mixed-platform`: one module call per provider.

module "digitalocean" {
  source = "./modules/digitalocean-nixos"

  hosts = {
    "do-ams" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-mixed-platform", "role-party", "backend-nebula", "region-ams3"]
    }
    "lighthouse" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-mixed-platform", "role-lighthouse", "backend-nebula", "region-ams3"]
    }
  }
  image_path      = var.digitalocean_image_path
  image_name      = "e3-mixed-platform"
  spaces_region   = "ams3"
  bucket_name     = var.spaces_bucket_name
  ssh_public_keys = var.ssh_public_keys
  name_prefix     = "e3-mixed-platform"
}

module "hetzner" {
  source = "./modules/hetzner-nixos"

  hosts = {
    "hz-fsn" = {
      location    = "fsn1"
      server_type = "cx23"
      tags        = ["e3", "scenario-mixed-platform", "role-party", "backend-nebula", "region-fsn1"]
    }
  }
  flake                = abspath("${path.root}/..")
  ssh_public_keys      = var.ssh_public_keys
  ssh_private_key_file = var.ssh_private_key_file
  name_prefix          = "e3-mixed-platform"
}
