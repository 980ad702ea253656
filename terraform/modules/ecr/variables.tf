variable "repositories" {
  type        = set(string)
  description = "Images, one repository each (api, workers, indexer)."
}

variable "repository_prefix" {
  type        = string
  description = "Prefix of the repository names; docker/build.sh pushes to <registry>/concertbook-<image>."
  default     = "concertbook-"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._/-]*$", var.repository_prefix))
    error_message = "repository_prefix: lowercase letters, digits, '.', '_', '-', '/'."
  }
}

variable "keep_images" {
  type        = number
  description = "Tagged images kept per repository (older ones expire)."
  default     = 50

  validation {
    condition     = var.keep_images >= 5 && var.keep_images <= 1000
    error_message = "keep_images must be between 5 and 1000."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the images."
}
