variable "ssh_public_keys" {
  description = "SSH public keys authorised for root on every host, by name (name → OpenSSH public key line)."
  type        = map(string)

  validation {
    condition     = length(var.ssh_public_keys) > 0
    error_message = "Give at least one SSH public key: Colmena deploys over SSH as root."
  }
}

variable "digitalocean_image_path" {
  description = "Path of the NixOS DigitalOcean image (`nix build .#image-<host>` in the rendered directory; `e3 deploy` builds it)."
  type        = string
}

variable "spaces_bucket_name" {
  description = "Name of the Spaces bucket that holds the image. Bucket names are global: change it if taken."
  type        = string
  default     = "e3-roaming-backend-tinc-2b4adf7a-image"
}
