# Machines of the scenario `wireguard-hub`: one module call per provider.

module "hetzner" {
  source = "./modules/hetzner-nixos"

  hosts = {
    "fsn" = {
      location    = "fsn1"
      server_type = "cx23"
      tags        = ["e3", "scenario-wireguard-hub", "role-party", "backend-wireguard", "region-fsn1"]
      public      = false
      networks = [
        {
          name = "lan-fsn"
          ip   = "10.128.0.2"
        },
      ]
      jump = ["fsn-router"]
    }
    "hel" = {
      location    = "hel1"
      server_type = "cx23"
      tags        = ["e3", "scenario-wireguard-hub", "role-party", "backend-wireguard", "region-hel1"]
      public      = false
      networks = [
        {
          name = "lan-hel"
          ip   = "10.128.1.2"
        },
      ]
      jump = ["hel-router"]
    }
    "nbg" = {
      location    = "nbg1"
      server_type = "cx23"
      tags        = ["e3", "scenario-wireguard-hub", "role-party", "backend-wireguard", "region-nbg1"]
      public      = false
      networks = [
        {
          name = "lan-nbg"
          ip   = "10.128.2.2"
        },
      ]
      jump = ["nbg-carrier", "nbg-router"]
    }
    "hub" = {
      location    = "fsn1"
      server_type = "cx23"
      tags        = ["e3", "scenario-wireguard-hub", "role-hub", "backend-wireguard", "region-fsn1"]
    }
    "fsn-router" = {
      location           = "fsn1"
      server_type        = "cx23"
      tags               = ["e3", "scenario-wireguard-hub", "role-router", "backend-wireguard", "region-fsn1"]
      base_configuration = "base-hetzner-router"
      networks = [
        {
          name = "lan-fsn"
          ip   = "10.128.0.254"
        },
      ]
    }
    "hel-router" = {
      location           = "hel1"
      server_type        = "cx23"
      tags               = ["e3", "scenario-wireguard-hub", "role-router", "backend-wireguard", "region-hel1"]
      base_configuration = "base-hetzner-router"
      networks = [
        {
          name = "lan-hel"
          ip   = "10.128.1.254"
        },
      ]
    }
    "nbg-carrier" = {
      location           = "nbg1"
      server_type        = "cx23"
      tags               = ["e3", "scenario-wireguard-hub", "role-carrier", "backend-wireguard", "region-nbg1"]
      base_configuration = "base-hetzner-router"
      networks = [
        {
          name = "carrier-nbg"
          ip   = "10.127.0.254"
        },
      ]
    }
    "nbg-router" = {
      location           = "nbg1"
      server_type        = "cx23"
      tags               = ["e3", "scenario-wireguard-hub", "role-router", "backend-wireguard", "region-nbg1"]
      base_configuration = "base-hetzner-router"
      public             = false
      networks = [
        {
          name = "carrier-nbg"
          ip   = "10.127.0.2"
        },
        {
          name = "lan-nbg"
          ip   = "10.128.2.254"
        },
      ]
      jump = ["nbg-carrier"]
    }
  }
  networks = {
    "lan-fsn" = {
      location = "fsn1"
      ip_range = "10.128.0.0/24"
      gateway  = "10.128.0.254"
    }
    "lan-hel" = {
      location = "hel1"
      ip_range = "10.128.1.0/24"
      gateway  = "10.128.1.254"
    }
    "carrier-nbg" = {
      location = "nbg1"
      ip_range = "10.127.0.0/24"
      gateway  = "10.127.0.254"
    }
    "lan-nbg" = {
      location = "nbg1"
      ip_range = "10.128.2.0/24"
      gateway  = "10.128.2.254"
    }
  }
  flake                = abspath("${path.root}/..")
  ssh_public_keys      = var.ssh_public_keys
  ssh_private_key_file = var.ssh_private_key_file
  name_prefix          = "e3-wireguard-hub"
}
