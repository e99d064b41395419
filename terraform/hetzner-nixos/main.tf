locals {
  # Hetzner Cloud network zone of each location.
  network_zones = {
    fsn1 = "eu-central"
    nbg1 = "eu-central"
    hel1 = "eu-central"
    ash  = "us-east"
    hil  = "us-west"
    sin  = "ap-southeast"
  }

  # The address the installer (and later Colmena) reaches each server at.
  # Read only by the install provisioners, at apply time.
  reach = {
    for name, host in var.hosts : name => host.public ? hcloud_server.host[name].ipv4_address : host.networks[0].ip
  }

  # What install.sh needs per server. A server without a public address is
  # reached through its jump hosts and first gets a default route via its
  # network's gateway (the network's first address).
  install_env = {
    for name, host in var.hosts : name => {
      FLAKE         = var.flake
      CONFIGURATION = host.base_configuration
      ADDRESS       = local.reach[name]
      JUMP          = join(",", [for j in host.jump : "root@${local.reach[j]}"])
      GATEWAY       = host.public ? "" : cidrhost(var.networks[host.networks[0].name].ip_range, 1)
      IDENTITY_FILE = var.ssh_private_key_file == null ? "" : pathexpand(var.ssh_private_key_file)
    }
  }
}

resource "hcloud_ssh_key" "this" {
  for_each = var.ssh_public_keys

  name       = "${var.name_prefix}-${each.key}"
  public_key = each.value
}

# One network per NAT site (and per carrier of a `cgnat` site), whose only
# way out is a route 0.0.0.0/0 via the site's router.
resource "hcloud_network" "site" {
  for_each = var.networks

  name     = "${var.name_prefix}-${each.key}"
  ip_range = each.value.ip_range
}

resource "hcloud_network_subnet" "site" {
  for_each = var.networks

  network_id   = hcloud_network.site[each.key].id
  type         = "cloud"
  network_zone = local.network_zones[each.value.location]
  ip_range     = each.value.ip_range
}

resource "hcloud_network_route" "default" {
  for_each = var.networks

  network_id  = hcloud_network.site[each.key].id
  destination = "0.0.0.0/0"
  gateway     = each.value.gateway
}

resource "hcloud_server" "host" {
  for_each = var.hosts

  name        = each.key
  image       = var.bootstrap_image
  server_type = each.value.server_type
  location    = each.value.location
  ssh_keys    = concat([for key in hcloud_ssh_key.this : key.id], var.existing_ssh_keys)
  labels      = merge({ for tag in each.value.tags : tag => "true" }, { "e3-host" = each.key })

  # A party behind NAT has no public address at all: its only way out is the
  # route of its network.
  public_net {
    ipv4_enabled = each.value.public
    ipv6_enabled = each.value.public
  }

  dynamic "network" {
    for_each = each.value.networks

    content {
      network_id = hcloud_network.site[network.value.name].id
      ip         = network.value.ip
    }
  }

  depends_on = [hcloud_network_subnet.site]

  lifecycle {
    # Both only matter for the first boot: nixos-anywhere replaces the OS and
    # NixOS manages authorized keys. Changing them must not recreate servers.
    ignore_changes = [image, ssh_keys]
  }
}

# Installs e3's generic base configuration (`<flake>#base-hetzner`, or
# `#base-hetzner-router` on routers: no scenario data) with nixos-anywhere
# (install.sh), once per server: at apply time, after the server exists, and
# again only when the server is replaced. Colmena deploys the full
# configuration later. Three tiers, because a server behind NAT is installed
# through its router (jump host, which forwards and masquerades by then),
# and a `cgnat` party through two.
resource "terraform_data" "install" {
  for_each = { for name, host in var.hosts : name => host if length(host.jump) == 0 }

  triggers_replace = [hcloud_server.host[each.key].id]

  provisioner "local-exec" {
    command     = "bash ${path.module}/install.sh"
    environment = local.install_env[each.key]
  }
}

resource "terraform_data" "install_behind_nat" {
  for_each = { for name, host in var.hosts : name => host if length(host.jump) == 1 }

  triggers_replace = [hcloud_server.host[each.key].id]

  provisioner "local-exec" {
    command     = "bash ${path.module}/install.sh"
    environment = local.install_env[each.key]
  }

  depends_on = [terraform_data.install]
}

resource "terraform_data" "install_behind_cgnat" {
  for_each = { for name, host in var.hosts : name => host if length(host.jump) > 1 }

  triggers_replace = [hcloud_server.host[each.key].id]

  provisioner "local-exec" {
    command     = "bash ${path.module}/install.sh"
    environment = local.install_env[each.key]
  }

  depends_on = [terraform_data.install_behind_nat]
}
