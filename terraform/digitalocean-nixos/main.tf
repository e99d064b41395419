locals {
  # Every region that runs at least one Droplet; the custom image must exist in each.
  image_regions = sort(distinct([for host in values(var.hosts) : host.region]))

  # The key carries the image's MD5, so a rebuilt image is a new object and a new
  # custom image (custom images are immutable: a changed URL replaces them).
  image_md5  = filemd5(var.image_path)
  object_key = "${var.image_name}/${local.image_md5}/${basename(var.image_path)}"
}

resource "digitalocean_spaces_bucket" "images" {
  name   = var.bucket_name
  region = var.spaces_region
  acl    = "private"
}

# DigitalOcean imports a custom image by fetching a URL, and the provider has no
# presigned URLs, so the object itself is public-read while the bucket stays
# private. The image holds no secrets: they never enter the Nix store.
resource "digitalocean_spaces_bucket_object" "image" {
  region       = digitalocean_spaces_bucket.images.region
  bucket       = digitalocean_spaces_bucket.images.name
  key          = local.object_key
  source       = var.image_path
  etag         = local.image_md5
  acl          = "public-read"
  content_type = "application/octet-stream"
}

resource "digitalocean_custom_image" "nixos" {
  name        = var.image_name
  url         = "https://${digitalocean_spaces_bucket.images.bucket_domain_name}/${digitalocean_spaces_bucket_object.image.key}"
  regions     = local.image_regions
  description = "NixOS image built by e3 (md5 ${local.image_md5})"
}

resource "digitalocean_ssh_key" "this" {
  for_each = var.ssh_public_keys

  name       = "${var.name_prefix}-${each.key}"
  public_key = each.value
}

resource "digitalocean_droplet" "host" {
  for_each = var.hosts

  name     = each.key
  image    = digitalocean_custom_image.nixos.id
  region   = each.value.region
  size     = each.value.size
  tags     = each.value.tags
  ssh_keys = concat([for key in digitalocean_ssh_key.this : key.fingerprint], var.existing_ssh_keys)
}
