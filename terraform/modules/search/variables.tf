variable "domain_name" {
  type        = string
  description = "OpenSearch domain name (3-28 lowercase letters, digits, dashes)."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,27}$", var.domain_name))
    error_message = "domain_name: 3-28 lowercase letters, digits or dashes, starting with a letter."
  }
}

variable "engine_version" {
  type        = string
  description = "Engine version, e.g. OpenSearch_2.19 (the version the tests run locally)."
  default     = "OpenSearch_2.19"

  validation {
    condition     = can(regex("^OpenSearch_[0-9]+\\.[0-9]+$", var.engine_version))
    error_message = "engine_version must look like OpenSearch_2.19."
  }
}

variable "instance_type" {
  type        = string
  description = "Data node type, e.g. t3.small.search (dev) or r7g.large.search (prod)."
  default     = "t3.small.search"

  validation {
    condition     = endswith(var.instance_type, ".search")
    error_message = "instance_type must be an OpenSearch instance type (<family>.<size>.search)."
  }
}

variable "instance_count" {
  type        = number
  description = "Data nodes; more than one spreads them over the zones (zone awareness)."
  default     = 1

  validation {
    condition     = var.instance_count >= 1 && var.instance_count <= 20 && (var.instance_count == 1 || var.instance_count % 2 == 0 || var.instance_count % 3 == 0)
    error_message = "instance_count must be 1, or a multiple of 2 or 3 (the zones the nodes are spread over), at most 20."
  }
}

variable "dedicated_master_type" {
  type        = string
  description = "Instance type of three dedicated master nodes (prod), or null for none."
  default     = null

  validation {
    condition     = var.dedicated_master_type == null || endswith(coalesce(var.dedicated_master_type, "x.search"), ".search")
    error_message = "dedicated_master_type must be null or an OpenSearch instance type."
  }
}

variable "volume_size_gb" {
  type        = number
  description = "gp3 volume per data node, in GiB (listings are small: 10 GiB holds millions)."
  default     = 10

  validation {
    condition     = var.volume_size_gb >= 10 && var.volume_size_gb <= 1024
    error_message = "volume_size_gb must be between 10 and 1024."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets, one per zone."
}

variable "security_group_id" {
  type        = string
  description = "OpenSearch's security group (admits 443 from the functions only)."
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key for encryption at rest."
}

variable "logs_kms_key_arn" {
  type        = string
  description = "KMS key of the domain's log groups."
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the domain's logs, in days (a value CloudWatch Logs accepts)."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' retention values."
  }
}

variable "master_role_arn" {
  type        = string
  description = "IAM role that is the fine-grained access control master (the search admin role)."
}

variable "client_role_arns" {
  type        = list(string)
  description = "Roles of the functions that call the domain (the API and the indexer)."
}
