variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the stage, e.g. concertbook-dev."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the replication group (one per zone)."

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Redis needs subnets in at least two zones."
  }
}

variable "security_group_id" {
  type        = string
  description = "Redis's security group (admits 6379 from the functions' group only)."
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key for data at rest."
}

variable "node_type" {
  type        = string
  description = "Cache node type, e.g. cache.t4g.small (dev) or cache.r7g.large (prod)."
  default     = "cache.t4g.small"

  validation {
    condition     = can(regex("^cache\\.[a-z0-9]+\\.[a-z0-9]+$", var.node_type))
    error_message = "node_type must look like cache.<family>.<size>."
  }
}

variable "engine_version" {
  type        = string
  description = "Redis engine version (7.x: TLS, IAM authentication of users)."
  default     = "7.1"

  validation {
    condition     = can(regex("^7\\.[0-9]+$", var.engine_version))
    error_message = "engine_version must be a Redis 7 version such as 7.1."
  }
}

variable "multi_az" {
  type        = bool
  description = "A replica in a second zone with automatic failover (prod)."
  default     = false
}

variable "snapshot_retention_days" {
  type        = number
  description = "Days of daily snapshots kept (1-35; the cache can be rebuilt, so a few days suffice)."
  default     = 1

  validation {
    condition     = var.snapshot_retention_days >= 1 && var.snapshot_retention_days <= 35
    error_message = "snapshot_retention_days must be between 1 and 35."
  }
}
