output "hosts" {
  description = "Public IPv4 address of every provisioned host, by host name (`e3 deploy` writes it to hosts.json)."
  value       = merge(module.digitalocean.hosts)
}
