# Machines of the scenario `connectivity-grid@backend=openvpn,nat=none+none`: one module call per provider.

module "digitalocean" {
  source = "./modules/digitalocean-nixos"

  hosts = {
    "alice" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-connectivity-grid-backend-openvpn-nat-none-none", "role-party", "backend-openvpn", "region-ams3"]
    }
    "bob" = {
      region = "fra1"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-connectivity-grid-backend-openvpn-nat-none-none", "role-party", "backend-openvpn", "region-fra1"]
    }
    "server" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-connectivity-grid-backend-openvpn-nat-none-none", "role-hub", "backend-openvpn", "region-ams3"]
    }
  }
  image_path      = var.digitalocean_image_path
  image_name      = "e3-connectivity-grid-ba-668f1ce1"
  spaces_region   = "ams3"
  bucket_name     = var.spaces_bucket_name
  ssh_public_keys = var.ssh_public_keys
  name_prefix     = "e3-connectivity-grid-ba-668f1ce1"
}
