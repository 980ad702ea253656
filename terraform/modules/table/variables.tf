variable "table_name" {
  type        = string
  description = "Name of the table (CONCERTBOOK_TABLE_NAME of every function)."

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.table_name))
    error_message = "table_name: 3-255 letters, digits, '_', '-' or '.'."
  }
}

variable "billing_mode" {
  type        = string
  description = "PAY_PER_REQUEST (on-demand, the default) or PROVISIONED with autoscaling."
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.billing_mode)
    error_message = "billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "min_read_capacity" {
  type        = number
  description = "PROVISIONED only: lowest read capacity of the table and of each index."
  default     = 25

  validation {
    condition     = var.min_read_capacity >= 1
    error_message = "min_read_capacity must be at least 1."
  }
}

variable "max_read_capacity" {
  type        = number
  description = "PROVISIONED only: highest read capacity autoscaling may set."
  default     = 4000

  validation {
    condition     = var.max_read_capacity >= var.min_read_capacity
    error_message = "max_read_capacity must be at least min_read_capacity."
  }
}

variable "min_write_capacity" {
  type        = number
  description = "PROVISIONED only: lowest write capacity of the table and of each index."
  default     = 25

  validation {
    condition     = var.min_write_capacity >= 1
    error_message = "min_write_capacity must be at least 1."
  }
}

variable "max_write_capacity" {
  type        = number
  description = "PROVISIONED only: highest write capacity autoscaling may set (a sold 2-seat order costs ~54 WCU)."
  default     = 40000

  validation {
    condition     = var.max_write_capacity >= var.min_write_capacity
    error_message = "max_write_capacity must be at least min_write_capacity."
  }
}

variable "target_utilization_percent" {
  type        = number
  description = "PROVISIONED only: consumed/provisioned capacity autoscaling aims for (20-90)."
  default     = 70

  validation {
    condition     = var.target_utilization_percent >= 20 && var.target_utilization_percent <= 90
    error_message = "target_utilization_percent must be between 20 and 90."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "Customer-managed KMS key of the table's server-side encryption."
}
