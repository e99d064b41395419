output "hosts" {
  description = "The address Colmena reaches each Droplet at, keyed by host name: its public IPv4, or behind a NAT router (`public = false`) its VPC address."
  value       = { for name, droplet in digitalocean_droplet.host : name => var.hosts[name].public ? droplet.ipv4_address : droplet.ipv4_address_private }
}

output "private_addresses" {
  description = "VPC address of every Droplet in a site network, keyed by host name."
  value       = { for name, droplet in digitalocean_droplet.host : name => droplet.ipv4_address_private if var.hosts[name].network != null }
}

output "image_id" {
  description = "ID of the custom NixOS base image the Droplets first boot from."
  value       = digitalocean_custom_image.nixos.id
}
