output "hosts" {
  description = "Public IPv4 address of every provisioned host, by host name (`e3 deploy` writes it to hosts.json)."
  value       = merge(module.digitalocean.hosts)
}

output "tailscale_authkey" {
  description = "Auth key for the parties. Sensitive: `e3 deploy` reads it into a deployment key, never into a file of this directory."
  value       = module.tailscale_authkey.key
  sensitive   = true
}
