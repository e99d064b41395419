output "key" {
  description = "The auth key. Sensitive: read it at deploy time (`terraform output -raw key`) straight into the deployment's secret keys, never into a rendered file or the Nix store."
  value       = tailscale_tailnet_key.this.key
  sensitive   = true
}

output "id" {
  description = "ID of the key in the Tailscale API (not secret)."
  value       = tailscale_tailnet_key.this.id
}
