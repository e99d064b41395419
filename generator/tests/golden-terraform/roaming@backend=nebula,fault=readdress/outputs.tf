output "hosts" {
  description = "The address Colmena reaches every provisioned host at, by host name: its public IPv4, or behind a NAT router its private address (reached through the router). `e3 deploy` writes it to hosts.json."
  value       = merge(module.digitalocean.hosts)
}

output "private_addresses" {
  description = "Private-network address of every router and NATed host, by host name. `e3 deploy` writes it to private-addresses.json."
  value       = merge(module.digitalocean.private_addresses)
}
