locals {
  nixos_configurations = { for name, host in var.hosts : name => coalesce(host.nixos_configuration, name) }

  # null means ssh-agent / ~/.ssh/config. The content, when read, only reaches
  # nixos-anywhere's process environment: module inputs and provisioner
  # environments are not persisted in state.
  ssh_private_key = var.ssh_private_key_file == null ? null : file(pathexpand(var.ssh_private_key_file))
}

resource "hcloud_ssh_key" "this" {
  for_each = var.ssh_public_keys

  name       = "${var.name_prefix}-${each.key}"
  public_key = each.value
}

resource "hcloud_server" "host" {
  for_each = var.hosts

  name        = each.key
  image       = var.bootstrap_image
  server_type = each.value.server_type
  location    = each.value.location
  ssh_keys    = concat([for key in hcloud_ssh_key.this : key.id], var.existing_ssh_keys)
  labels      = merge({ for tag in each.value.tags : tag => "true" }, { "e3-host" = each.key })

  lifecycle {
    # Both only matter for the first boot: nixos-anywhere replaces the OS and
    # NixOS manages authorized keys. Changing them must not recreate servers.
    ignore_changes = [image, ssh_keys]
  }
}

# Installs NixOS over SSH: kexec into the installer, partition with disko,
# install the flake's system, reboot. Reinstalls when the server is replaced.
module "nixos" {
  source   = "github.com/nix-community/nixos-anywhere//terraform/all-in-one?ref=1.13.0"
  for_each = var.hosts

  nixos_system_attr      = "${var.flake}#nixosConfigurations.${local.nixos_configurations[each.key]}.config.system.build.toplevel"
  nixos_partitioner_attr = "${var.flake}#nixosConfigurations.${local.nixos_configurations[each.key]}.config.system.build.diskoScript"
  target_host            = hcloud_server.host[each.key].ipv4_address
  instance_id            = hcloud_server.host[each.key].id
  install_ssh_key        = local.ssh_private_key
  deployment_ssh_key     = local.ssh_private_key
}
