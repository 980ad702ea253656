variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the stage, e.g. concertbook-dev."
}

variable "upload_origins" {
  type        = list(string)
  description = "Origins (scheme://host[:port]) whose pages POST presigned poster uploads to the bucket."

  validation {
    condition     = length(var.upload_origins) > 0 && alltrue([for o in var.upload_origins : can(regex("^(https://[a-z0-9.-]+|http://localhost)(:[0-9]+)?$", o))])
    error_message = "upload_origins: https origins (http only for localhost), no paths, no wildcards."
  }
}

variable "price_class" {
  type        = string
  description = "CloudFront price class; PriceClass_200 includes the edge locations in Korea and Asia."
  default     = "PriceClass_200"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "domain_names" {
  type        = list(string)
  description = "Custom domain names of the CDN (needs acm_certificate_arn); empty: the cloudfront.net name."
  default     = []
}

variable "acm_certificate_arn" {
  type        = string
  description = "ACM certificate (us-east-1) for domain_names, or null."
  default     = null

  validation {
    condition     = var.acm_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:us-east-1:", coalesce(var.acm_certificate_arn, "-")))
    error_message = "acm_certificate_arn must be an ACM certificate in us-east-1 (CloudFront's region)."
  }
}

variable "web_acl_arn" {
  type        = string
  description = "ARN of a WAFv2 web ACL (scope CLOUDFRONT) to attach, or null."
  default     = null
}

variable "noncurrent_version_days" {
  type        = number
  description = "Days a replaced or deleted object version is kept before it expires."
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1 && var.noncurrent_version_days <= 3650
    error_message = "noncurrent_version_days must be between 1 and 3650."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days access logs are kept in the log bucket."
  default     = 90

  validation {
    condition     = var.log_retention_days >= 1 && var.log_retention_days <= 3650
    error_message = "log_retention_days must be between 1 and 3650."
  }
}

variable "look_up_managed_policies" {
  type        = bool
  description = "Look CloudFront's managed cache and response headers policies up by name; false only on an emulator that cannot list them (their documented ids are used)."
  default     = true
}
