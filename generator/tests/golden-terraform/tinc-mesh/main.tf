# Machines of the scenario `tinc-mesh`: one module call per provider.

module "hetzner" {
  source = "./modules/hetzner-nixos"

  hosts = {
    "lab-0" = {
      location    = "nbg1"
      server_type = "cx23"
      tags        = ["e3", "scenario-tinc-mesh", "role-party", "backend-tinc", "region-nbg1"]
      public      = false
      networks = [
        {
          name = "lan-campus"
          ip   = "10.128.0.2"
        },
      ]
      jump = ["campus-router"]
    }
    "lab-1" = {
      location    = "nbg1"
      server_type = "cx23"
      tags        = ["e3", "scenario-tinc-mesh", "role-party", "backend-tinc", "region-nbg1"]
      public      = false
      networks = [
        {
          name = "lan-campus"
          ip   = "10.128.0.3"
        },
      ]
      jump = ["campus-router"]
    }
    "ash" = {
      location    = "ash"
      server_type = "cx23"
      tags        = ["e3", "scenario-tinc-mesh", "role-party", "backend-tinc", "region-ash"]
      public      = false
      networks = [
        {
          name = "lan-ash"
          ip   = "10.128.1.2"
        },
      ]
      jump = ["ash-router"]
    }
    "hel" = {
      location    = "hel1"
      server_type = "cx23"
      tags        = ["e3", "scenario-tinc-mesh", "role-party", "backend-tinc", "region-hel1"]
    }
    "bootstrap" = {
      location    = "nbg1"
      server_type = "cx23"
      tags        = ["e3", "scenario-tinc-mesh", "role-bootstrap", "backend-tinc", "region-nbg1"]
    }
    "campus-router" = {
      location           = "nbg1"
      server_type        = "cx23"
      tags               = ["e3", "scenario-tinc-mesh", "role-router", "backend-tinc", "region-nbg1"]
      base_configuration = "base-hetzner-router"
      networks = [
        {
          name = "lan-campus"
          ip   = "10.128.0.254"
        },
      ]
    }
    "ash-router" = {
      location           = "ash"
      server_type        = "cx23"
      tags               = ["e3", "scenario-tinc-mesh", "role-router", "backend-tinc", "region-ash"]
      base_configuration = "base-hetzner-router"
      networks = [
        {
          name = "lan-ash"
          ip   = "10.128.1.254"
        },
      ]
    }
  }
  networks = {
    "lan-campus" = {
      location = "nbg1"
      ip_range = "10.128.0.0/24"
      gateway  = "10.128.0.254"
    }
    "lan-ash" = {
      location = "ash"
      ip_range = "10.128.1.0/24"
      gateway  = "10.128.1.254"
    }
  }
  flake                = abspath("${path.root}/..")
  ssh_public_keys      = var.ssh_public_keys
  ssh_private_key_file = var.ssh_private_key_file
  name_prefix          = "e3-tinc-mesh"
}
