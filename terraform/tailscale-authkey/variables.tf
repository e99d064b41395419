variable "tags" {
  description = "ACL tags (`tag:name`) applied to every node that joins with the key. The API key's owner (or the OAuth client) must own these tags in the tailnet policy; OAuth clients require at least one tag."
  type        = set(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for tag in var.tags : can(regex("^tag:[A-Za-z][A-Za-z0-9-]*$", tag))])
    error_message = "Every tag must look like `tag:name` (a letter, then letters, digits or `-`)."
  }
}

variable "ephemeral" {
  description = "Whether nodes that join with the key are ephemeral: removed from the tailnet soon after they go offline, so a destroyed testbed leaves no stale machines."
  type        = bool
  default     = true
  nullable    = false
}

variable "expiry_seconds" {
  description = "Lifetime of the key in seconds (1 to 7776000, the 90-day maximum). Nodes that joined stay joined after it expires; only new joins need a valid key."
  type        = number
  default     = 86400
  nullable    = false

  validation {
    condition     = var.expiry_seconds >= 1 && var.expiry_seconds <= 7776000 && floor(var.expiry_seconds) == var.expiry_seconds
    error_message = "`expiry_seconds` must be a whole number of seconds between 1 and 7776000 (90 days)."
  }
}

variable "description" {
  description = "Description of the key shown in the Tailscale admin console."
  type        = string
  default     = "e3 testbed"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9 -]{1,50}$", var.description))
    error_message = "`description` must be 1 to 50 letters, digits, spaces or `-`."
  }
}
