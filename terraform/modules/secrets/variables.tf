variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the stage, e.g. concertbook-dev."
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the secrets."
}

variable "recovery_window_days" {
  type        = number
  description = "Days a deleted secret can still be restored (7-30)."
  default     = 30

  validation {
    condition     = var.recovery_window_days >= 7 && var.recovery_window_days <= 30
    error_message = "recovery_window_days must be between 7 and 30."
  }
}

variable "toss_keys" {
  type        = bool
  description = "Create the Toss Payments secret and security key secrets (the stage's payment provider is toss)."
  default     = false
}
