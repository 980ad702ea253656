variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the stage, e.g. concertbook-dev."
}

variable "function_name" {
  type        = string
  description = "Name of the API function."
}

variable "function_qualifier" {
  type        = string
  description = "Alias of the API function that API Gateway invokes."
}

variable "function_invoke_arn" {
  type        = string
  description = "Invoke ARN of that alias."
}

variable "integration_timeout_ms" {
  type        = number
  description = "How long API Gateway waits for the function (50-30000 ms)."
  default     = 29000

  validation {
    condition     = var.integration_timeout_ms >= 50 && var.integration_timeout_ms <= 30000
    error_message = "integration_timeout_ms must be between 50 and 30000."
  }
}

variable "throttling_burst_limit" {
  type        = number
  description = "Requests the stage admits in a burst before answering 429."
  default     = 5000

  validation {
    condition     = var.throttling_burst_limit >= 1 && var.throttling_burst_limit <= 100000
    error_message = "throttling_burst_limit must be between 1 and 100000."
  }
}

variable "throttling_rate_limit" {
  type        = number
  description = "Steady requests per second the stage admits before answering 429."
  default     = 10000

  validation {
    condition     = var.throttling_rate_limit >= 1 && var.throttling_rate_limit <= 100000
    error_message = "throttling_rate_limit must be between 1 and 100000."
  }
}

variable "cors_allowed_origins" {
  type        = list(string)
  description = "Browser origins allowed to call the API cross-origin; empty: no CORS."
  default     = []

  validation {
    condition     = alltrue([for o in var.cors_allowed_origins : can(regex("^(https://[a-z0-9.-]+|http://localhost)(:[0-9]+)?$", o))])
    error_message = "cors_allowed_origins: https origins (http only for localhost), no wildcards."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the access logs, in days (a value CloudWatch Logs accepts)."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' retention values."
  }
}

variable "logs_kms_key_arn" {
  type        = string
  description = "KMS key of the access log group."
}
