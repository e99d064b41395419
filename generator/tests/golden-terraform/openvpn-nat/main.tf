# Machines of the scenario `openvpn-nat`: one module call per provider.

module "digitalocean" {
  source = "./modules/digitalocean-nixos"

  hosts = {
    "fra" = {
      region = "fra1"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-openvpn-nat", "role-party", "backend-openvpn", "region-fra1"]
    }
    "home" = {
      region = "fra1"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-openvpn-nat", "role-party", "backend-openvpn", "region-fra1"]
    }
    "office" = {
      region = "ams3"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-openvpn-nat", "role-party", "backend-openvpn", "region-ams3"]
    }
    "server" = {
      region = "fra1"
      size   = "s-1vcpu-1gb"
      tags   = ["e3", "scenario-openvpn-nat", "role-hub", "backend-openvpn", "region-fra1"]
    }
  }
  image_path      = var.digitalocean_image_path
  image_name      = "e3-openvpn-nat"
  spaces_region   = "fra1"
  bucket_name     = var.spaces_bucket_name
  ssh_public_keys = var.ssh_public_keys
  name_prefix     = "e3-openvpn-nat"
}
