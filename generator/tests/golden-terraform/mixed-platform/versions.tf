# Providers are pinned exactly: `terraform init` installs these versions and no others.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    digitalocean = {
      source  = "digitalocean/digitalocean"
      version = "2.78.0"
    }
    external = {
      source  = "hashicorp/external"
      version = "2.3.5"
    }
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "1.62.0"
    }
    null = {
      source  = "hashicorp/null"
      version = "3.2.4"
    }
  }
}
