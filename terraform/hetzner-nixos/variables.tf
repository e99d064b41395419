variable "hosts" {
  description = "Servers to create, keyed by host name (also the server name). Each host names its location, its server type, its tags (applied as labels), the base configuration nixos-anywhere installs (`base-hetzner`, or `base-hetzner-router` for a router), whether it has a public address, the networks it joins (in order: the first is its way out when it has no public address; `ip` fixed), and the hosts to jump through to reach it (outermost first)."
  type = map(object({
    location           = string
    server_type        = string
    tags               = list(string)
    base_configuration = optional(string, "base-hetzner")
    public             = optional(bool, true)
    networks = optional(list(object({
      name = string
      ip   = string
    })), [])
    jump = optional(list(string), [])
  }))
  nullable = false

  validation {
    condition     = length(var.hosts) > 0
    error_message = "`hosts` must name at least one host."
  }

  validation {
    condition     = alltrue([for name in keys(var.hosts) : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", name))])
    error_message = "Every host name must be a lowercase RFC 1123 label (letters, digits and `-`, at most 63 characters)."
  }

  validation {
    condition     = alltrue([for host in values(var.hosts) : can(regex("^[a-z]{3}[0-9]?$", host.location))])
    error_message = "Every `location` must be a Hetzner Cloud location name such as `fsn1`, `nbg1`, `hel1`, `ash`, `hil` or `sin`."
  }

  validation {
    condition     = alltrue([for host in values(var.hosts) : can(regex("^[a-z0-9][a-z0-9-]*$", host.server_type))])
    error_message = "Every `server_type` must be a Hetzner Cloud server type name such as `cx23` or `cpx22`."
  }

  validation {
    condition     = alltrue(flatten([for host in values(var.hosts) : [for tag in host.tags : can(regex("^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$", tag))]]))
    error_message = "Tags become label keys: letters, digits, `.`, `_` and `-`, at most 63 characters, starting and ending with a letter or digit."
  }

  validation {
    condition     = alltrue([for host in values(var.hosts) : can(regex("^[A-Za-z0-9_][A-Za-z0-9_'-]*$", host.base_configuration))])
    error_message = "`base_configuration` must be a plain Nix attribute name."
  }

  validation {
    condition     = alltrue([for host in values(var.hosts) : host.public || length(host.networks) > 0])
    error_message = "A host without a public address must join at least one network."
  }

  validation {
    condition     = alltrue([for name, host in var.hosts : alltrue([for j in host.jump : contains(keys(var.hosts), j) && j != name])])
    error_message = "Every `jump` entry must name another host of `hosts`."
  }
}

variable "networks" {
  description = "Private networks of the NAT sites, keyed by network name: location, RFC 1918 range, and the gateway (the router's address on it) that its route 0.0.0.0/0 points to."
  type = map(object({
    location = string
    ip_range = string
    gateway  = string
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for net in values(var.networks) : can(cidrnetmask(net.ip_range)) && can(cidrnetmask("${net.gateway}/32"))])
    error_message = "Every `ip_range` must be an IPv4 CIDR block and every `gateway` an IPv4 address."
  }

  validation {
    condition     = alltrue([for net in values(var.networks) : contains(["fsn1", "nbg1", "hel1", "ash", "hil", "sin"], net.location)])
    error_message = "Every network `location` must be a Hetzner Cloud location (`fsn1`, `nbg1`, `hel1`, `ash`, `hil`, `sin`)."
  }
}

variable "flake" {
  description = "Path of the rendered flake whose `nixosConfigurations.<base_configuration>` is installed. It must provide `config.system.build.diskoScript` (e3's Hetzner platform module does), which nixos-anywhere partitions the disk with."
  type        = string
  nullable    = false

  validation {
    condition     = fileexists("${var.flake}/flake.nix")
    error_message = "`flake` must be a directory containing `flake.nix`."
  }
}

variable "ssh_public_keys" {
  description = "SSH public keys to register with Hetzner Cloud and install for root on the bootstrap image, keyed by a short name. Public keys only; the NixOS configuration decides who may log in after the install."
  type        = map(string)
  nullable    = false

  validation {
    condition     = alltrue([for key in values(var.ssh_public_keys) : can(regex("^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\\.com) ", key))])
    error_message = "Every value of `ssh_public_keys` must be an OpenSSH public key line (`ssh-ed25519 AAAA…`); never pass a private key."
  }
}

variable "existing_ssh_keys" {
  description = "IDs or names of SSH keys already registered in the Hetzner Cloud project, added to every server. Hetzner Cloud rejects registering the same public key twice, so list an already-registered key here instead of in `ssh_public_keys`."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "ssh_private_key_file" {
  description = "Path of the SSH private key the installer (nixos-anywhere, ssh) connects with, passed as `-i PATH`: Terraform never reads the key. Leave null (recommended) to use ssh-agent and `~/.ssh/config`."
  type        = string
  default     = null

  validation {
    condition     = var.ssh_private_key_file == null ? true : fileexists(pathexpand(var.ssh_private_key_file))
    error_message = "`ssh_private_key_file` must be the path of an existing file (the key itself never goes in a variable)."
  }
}

variable "bootstrap_image" {
  description = "Hetzner Cloud image the server boots first; nixos-anywhere kexecs from it into the NixOS installer and replaces it. Changing it does not reinstall existing servers."
  type        = string
  default     = "debian-12"
  nullable    = false
}

variable "name_prefix" {
  description = "Prefix of the names of the SSH keys this module registers."
  type        = string
  default     = "e3"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", var.name_prefix))
    error_message = "`name_prefix` must be 1 to 32 letters, digits, `_` or `-`, starting with a letter or digit."
  }
}
