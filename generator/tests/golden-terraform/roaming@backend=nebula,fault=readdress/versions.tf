# Providers are pinned exactly: `terraform init` installs these versions and no others.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    digitalocean = {
      source  = "digitalocean/digitalocean"
      version = "2.78.0"
    }
  }
}
