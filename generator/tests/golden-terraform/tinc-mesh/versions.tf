# Providers are pinned exactly: `terraform init` installs these versions and no others.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "1.62.0"
    }
  }
}
