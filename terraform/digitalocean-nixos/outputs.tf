output "hosts" {
  description = "Public IPv4 address of every Droplet, keyed by host name."
  value       = { for name, droplet in digitalocean_droplet.host : name => droplet.ipv4_address }
}

output "image_id" {
  description = "ID of the custom NixOS image the Droplets boot from."
  value       = digitalocean_custom_image.nixos.id
}
