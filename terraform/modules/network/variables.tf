variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the stage, e.g. concertbook-dev."
}

variable "cidr_block" {
  type        = string
  description = "The VPC's IPv4 range; a /16 leaves room for /20 private subnets."
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.cidr_block)) && tonumber(split("/", var.cidr_block)[1]) <= 16
    error_message = "cidr_block must be an IPv4 CIDR of /16 or larger."
  }
}

variable "availability_zone_ids" {
  type        = list(string)
  description = "Zone ids used (2 or 3, e.g. apne2-az1): one private and one public subnet in each."
  default     = ["apne2-az1", "apne2-az3"]

  validation {
    condition     = length(var.availability_zone_ids) >= 2 && length(var.availability_zone_ids) <= 3 && alltrue([for z in var.availability_zone_ids : can(regex("^[a-z0-9]+-az[0-9]+$", z))])
    error_message = "availability_zone_ids: 2 or 3 zone ids such as apne2-az1."
  }
}

variable "nat_gateway_per_az" {
  type        = bool
  description = "One NAT gateway per zone (survives a zone outage) instead of one for the VPC."
  default     = false
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the VPC flow logs, in days (a value CloudWatch Logs accepts)."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' retention values."
  }
}

variable "logs_kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the flow log group."
}
