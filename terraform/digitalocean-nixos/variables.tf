variable "hosts" {
  description = "Droplets to create, keyed by host name (also the Droplet name). Each host names its region slug, its size slug, the Droplet tags and, behind a NAT router, the key of its site network in `networks` (`public = false`: reached at its VPC address, through the router)."
  type = map(object({
    region  = string
    size    = string
    tags    = list(string)
    network = optional(string)
    public  = optional(bool, true)
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
    condition     = alltrue([for host in values(var.hosts) : can(regex("^[a-z]{3}[0-9]$", host.region))])
    error_message = "Every `region` must be a DigitalOcean region slug such as `ams3`, `nyc3` or `fra1`."
  }

  validation {
    condition     = alltrue([for host in values(var.hosts) : can(regex("^[a-z0-9][a-z0-9-]*$", host.size))])
    error_message = "Every `size` must be a DigitalOcean size slug such as `s-1vcpu-1gb`."
  }

  validation {
    condition     = alltrue(flatten([for host in values(var.hosts) : [for tag in host.tags : can(regex("^[A-Za-z0-9:_-]{1,255}$", tag))]]))
    error_message = "Droplet tags may contain only letters, digits, `:`, `-` and `_`, at most 255 characters."
  }
}

variable "networks" {
  description = "VPCs of the NAT sites, keyed by network name: region slug and RFC 1918 range (`/24` to `/16`). A host's `network` names one; its router is the host of that network with a public address."
  type = map(object({
    region   = string
    ip_range = string
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for net in values(var.networks) : can(cidrnetmask(net.ip_range))])
    error_message = "Every `ip_range` must be an IPv4 CIDR block such as `10.128.0.0/24`."
  }
}

variable "image_path" {
  description = "Path of e3's DigitalOcean base image (`nix build .#base-image-digitalocean`; nixpkgs `digital-ocean-image`, e.g. `nixos-image-digital-ocean-….qcow2.gz`). Uploaded as is to Spaces. Empty only for `terraform destroy` of a deployment whose image was never built."
  type        = string
  nullable    = false

  validation {
    condition     = var.image_path == "" || can(regex("\\.(qcow2|img|raw|vhdx|vdi|vmdk)(\\.(gz|bz2))?$", var.image_path))
    error_message = "`image_path` must be a qcow2, raw (.img), VHDX, VDI or VMDK image, optionally compressed with gzip or bzip2."
  }

  validation {
    condition     = var.image_path == "" || fileexists(var.image_path)
    error_message = "`image_path` does not exist; build the base image first (`nix build .#base-image-digitalocean`)."
  }
}

variable "image_name" {
  description = "Name of the custom image in DigitalOcean; also the prefix of the uploaded object's key."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", var.image_name))
    error_message = "`image_name` must start with a letter or digit and contain only letters, digits, `.`, `_` and `-` (at most 63 characters)."
  }
}

variable "spaces_region" {
  description = "Region slug of the Spaces bucket that holds the image, e.g. `ams3`."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{3}[0-9]$", var.spaces_region))
    error_message = "`spaces_region` must be a Spaces region slug such as `ams3`, `nyc3` or `fra1`."
  }
}

variable "bucket_name" {
  description = "Name of the Spaces bucket created to hold the image. Bucket names are global: pick one nobody else uses."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "`bucket_name` must be 3 to 63 lowercase letters, digits or `-`, starting and ending with a letter or digit."
  }
}

variable "ssh_public_keys" {
  description = "SSH public keys to register with DigitalOcean and install on every Droplet, keyed by a short name. Public keys only."
  type        = map(string)
  nullable    = false

  validation {
    condition     = alltrue([for key in values(var.ssh_public_keys) : can(regex("^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\\.com) ", key))])
    error_message = "Every value of `ssh_public_keys` must be an OpenSSH public key line (`ssh-ed25519 AAAA…`); never pass a private key."
  }
}

variable "existing_ssh_keys" {
  description = "IDs or fingerprints of SSH keys already registered in the DigitalOcean account, added to every Droplet. DigitalOcean rejects registering the same public key twice, so list an already-registered key here instead of in `ssh_public_keys`."
  type        = list(string)
  default     = []
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
