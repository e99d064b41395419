# Machines of the scenario `tinc-mesh`: one module call per provider.

module "hetzner" {
  source = "./modules/hetzner-nixos"

  hosts = {
    "lab-0" = {
      location    = "nbg1"
      server_type = "cx22"
      tags        = ["e3", "scenario-tinc-mesh", "role-party", "backend-tinc", "region-nbg1"]
    }
    "lab-1" = {
      location    = "nbg1"
      server_type = "cx22"
      tags        = ["e3", "scenario-tinc-mesh", "role-party", "backend-tinc", "region-nbg1"]
    }
    "ash" = {
      location    = "ash"
      server_type = "cx22"
      tags        = ["e3", "scenario-tinc-mesh", "role-party", "backend-tinc", "region-ash"]
    }
    "hel" = {
      location    = "hel1"
      server_type = "cx22"
      tags        = ["e3", "scenario-tinc-mesh", "role-party", "backend-tinc", "region-hel1"]
    }
    "bootstrap" = {
      location    = "nbg1"
      server_type = "cx22"
      tags        = ["e3", "scenario-tinc-mesh", "role-bootstrap", "backend-tinc", "region-nbg1"]
    }
  }
  flake                = abspath("${path.root}/..")
  ssh_public_keys      = var.ssh_public_keys
  ssh_private_key_file = var.ssh_private_key_file
  name_prefix          = "e3-tinc-mesh"
}
