# Providers take credentials only from environment variables; nothing secret is written here.

provider "hcloud" {
  # Credentials from the environment: HCLOUD_TOKEN.
}
