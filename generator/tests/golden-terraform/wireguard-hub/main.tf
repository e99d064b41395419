# Machines of the scenario `wireguard-hub`: one module call per provider.

module "hetzner" {
  source = "./modules/hetzner-nixos"

  hosts = {
    "fsn" = {
      location    = "fsn1"
      server_type = "cx22"
      tags        = ["e3", "scenario-wireguard-hub", "role-party", "backend-wireguard", "region-fsn1"]
    }
    "hel" = {
      location    = "hel1"
      server_type = "cx22"
      tags        = ["e3", "scenario-wireguard-hub", "role-party", "backend-wireguard", "region-hel1"]
    }
    "nbg" = {
      location    = "nbg1"
      server_type = "cx22"
      tags        = ["e3", "scenario-wireguard-hub", "role-party", "backend-wireguard", "region-nbg1"]
    }
    "hub" = {
      location    = "fsn1"
      server_type = "cx22"
      tags        = ["e3", "scenario-wireguard-hub", "role-hub", "backend-wireguard", "region-fsn1"]
    }
  }
  flake                = abspath("${path.root}/..")
  ssh_public_keys      = var.ssh_public_keys
  ssh_private_key_file = var.ssh_private_key_file
  name_prefix          = "e3-wireguard-hub"
}
