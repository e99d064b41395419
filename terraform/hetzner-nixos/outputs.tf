output "hosts" {
  description = "Public IPv4 address of every server, keyed by host name; known once NixOS is installed."
  value       = { for name, server in hcloud_server.host : name => server.ipv4_address }

  depends_on = [module.nixos]
}
