# Providers take credentials only from environment variables; nothing secret is written here.

provider "digitalocean" {
  # Credentials from the environment: DIGITALOCEAN_TOKEN, SPACES_ACCESS_KEY_ID, SPACES_SECRET_ACCESS_KEY.
}

provider "tailscale" {
  # Credentials from the environment: TAILSCALE_API_KEY, TAILSCALE_TAILNET.
}
