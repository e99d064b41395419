variable "ssh_public_keys" {
  description = "SSH public keys authorised for root on every host, by name (name → OpenSSH public key line)."
  type        = map(string)

  validation {
    condition     = length(var.ssh_public_keys) > 0
    error_message = "Give at least one SSH public key: Colmena deploys over SSH as root."
  }
}

variable "ssh_private_key_file" {
  description = "Path of the SSH private key nixos-anywhere installs with; null uses the SSH agent. A path, never key content."
  type        = string
  default     = null
}
