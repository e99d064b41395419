# One reusable, pre-authorized key shared by every party of a scenario: parties
# join without a browser login and without manual approval.
resource "tailscale_tailnet_key" "this" {
  reusable      = true
  preauthorized = true
  ephemeral     = var.ephemeral
  expiry        = var.expiry_seconds
  description   = var.description
  tags          = var.tags

  # An expired or revoked key is replaced on the next apply instead of lingering
  # in state and failing the next join.
  recreate_if_invalid = "always"
}
