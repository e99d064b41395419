output "hosts" {
  description = "The address Colmena reaches each server at, keyed by host name: its public IPv4, or for a server without one its address on its first network (reached through `jump`). Known once the base configuration is installed."
  value       = local.reach

  depends_on = [terraform_data.install, terraform_data.install_behind_nat, terraform_data.install_behind_cgnat]
}

output "private_addresses" {
  description = "Address of every server on its last (innermost) network, keyed by host name."
  value       = { for name, host in var.hosts : name => host.networks[length(host.networks) - 1].ip if length(host.networks) > 0 }
}
