locals {
  # Every region that runs at least one Droplet; the custom image must exist in each.
  image_regions = sort(distinct([for host in values(var.hosts) : host.region]))

  # The key carries the image's MD5, so a rebuilt image is a new object and a new
  # custom image (custom images are immutable: a changed URL replaces them).
  image_md5  = var.image_path == "" ? "none" : filemd5(var.image_path)
  object_key = "${var.image_name}/${local.image_md5}/${basename(var.image_path)}"
}

resource "digitalocean_spaces_bucket" "images" {
  name   = var.bucket_name
  region = var.spaces_region
  acl    = "private"
}

# DigitalOcean imports a custom image by fetching a URL, and the provider has no
# presigned URLs, so the object itself is public-read while the bucket stays
# private. The image is e3's generic base image: no scenario data, no keys.
resource "digitalocean_spaces_bucket_object" "image" {
  region       = digitalocean_spaces_bucket.images.region
  bucket       = digitalocean_spaces_bucket.images.name
  key          = local.object_key
  source       = var.image_path
  etag         = local.image_md5
  acl          = "public-read"
  content_type = "application/octet-stream"

  lifecycle {
    precondition {
      condition     = var.image_path != ""
      error_message = "`image_path` is empty: build the base image first (`nix build .#base-image-digitalocean`)."
    }
  }
}

resource "digitalocean_custom_image" "nixos" {
  name        = var.image_name
  url         = "https://${digitalocean_spaces_bucket.images.bucket_domain_name}/${digitalocean_spaces_bucket_object.image.key}"
  regions     = local.image_regions
  description = "e3 NixOS base image (md5 ${local.image_md5})"

  lifecycle {
    # Droplets keep the image they were created from (see below), so a new
    # image is created before the old one goes.
    create_before_destroy = true
  }
}

resource "digitalocean_ssh_key" "this" {
  for_each = var.ssh_public_keys

  name       = "${var.name_prefix}-${each.key}"
  public_key = each.value
}

# One VPC per NAT site: the site's router and the parties behind it. The
# parties' only way out is the router (their configuration routes through
# its VPC address and leaves the public interface unconfigured).
resource "digitalocean_vpc" "site" {
  for_each = var.networks

  name     = "${var.name_prefix}-${each.key}"
  region   = each.value.region
  ip_range = each.value.ip_range
}

resource "digitalocean_droplet" "host" {
  for_each = var.hosts

  name     = each.key
  image    = digitalocean_custom_image.nixos.id
  region   = each.value.region
  size     = each.value.size
  tags     = each.value.tags
  vpc_uuid = each.value.network == null ? null : digitalocean_vpc.site[each.value.network].id
  ssh_keys = concat([for key in digitalocean_ssh_key.this : key.fingerprint], var.existing_ssh_keys)

  lifecycle {
    # The image only matters for the first boot: Colmena deploys the full
    # configuration afterwards. A rebuilt base image must not replace
    # machines, nor a changed key list (NixOS manages authorized keys).
    ignore_changes = [image, ssh_keys]

    precondition {
      condition     = each.value.network == null || contains(keys(var.networks), coalesce(each.value.network, "-"))
      error_message = "The host's `network` must be a key of `networks`."
    }
  }
}
