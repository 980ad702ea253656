variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the stage, e.g. concertbook-dev."
}

variable "alarm_emails" {
  type        = list(string)
  description = "Addresses subscribed to the alarm topic (each confirms the subscription mail)."

  validation {
    condition     = length(var.alarm_emails) > 0 && alltrue([for e in var.alarm_emails : can(regex("^[^@ ]+@[^@ ]+\\.[a-z]{2,}$", e))])
    error_message = "alarm_emails: at least one e-mail address."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key of the alarm topic (the logs key, which CloudWatch may use)."
}

variable "function_names" {
  type        = map(string)
  description = "Every function: its name in the stage, by function."
}

variable "api_id" {
  type        = string
  description = "HTTP API id."
}

variable "api_stage" {
  type        = string
  description = "HTTP API stage name."
}

variable "table_name" {
  type        = string
  description = "The table."
}

variable "table_indexes" {
  type        = list(string)
  description = "The table's global secondary indexes."
  default     = ["gsi1", "gsi2"]
}

variable "table_operations" {
  type        = list(string)
  description = "Operations whose throttled requests the dashboard shows."
  default     = ["TransactWriteItems", "GetItem", "Query", "BatchWriteItem", "DeleteItem"]
}

variable "queue_names" {
  type        = map(string)
  description = "Work queues by name."
}

variable "dlq_names" {
  type        = map(string)
  description = "Dead-letter queues by work queue name."
}

variable "failure_queue_names" {
  type        = map(string)
  description = "Failure queues by function."
}

variable "opensearch_domain_name" {
  type        = string
  description = "The search domain."
}

variable "redis_node_ids" {
  type        = list(string)
  description = "Cache cluster ids of the Redis nodes."
}

variable "api_5xx_rate_percent" {
  type        = number
  description = "API 5xx share (%) that pages."
  default     = 1

  validation {
    condition     = var.api_5xx_rate_percent > 0 && var.api_5xx_rate_percent <= 100
    error_message = "api_5xx_rate_percent must be in (0, 100]."
  }
}

variable "api_p99_latency_ms" {
  type        = number
  description = "API p99 latency (ms) that pages."
  default     = 2000

  validation {
    condition     = var.api_p99_latency_ms >= 50 && var.api_p99_latency_ms <= 30000
    error_message = "api_p99_latency_ms must be between 50 and 30000."
  }
}

variable "lambda_error_threshold" {
  type        = number
  description = "Failed invocations of one function in 5 minutes that page."
  default     = 1

  validation {
    condition     = var.lambda_error_threshold >= 1
    error_message = "lambda_error_threshold must be at least 1."
  }
}

variable "lambda_throttle_threshold" {
  type        = number
  description = "Throttled invocations of one function in 5 minutes that page."
  default     = 1

  validation {
    condition     = var.lambda_throttle_threshold >= 1
    error_message = "lambda_throttle_threshold must be at least 1."
  }
}

variable "queue_age_seconds" {
  type        = number
  description = "Age (s) of a work queue's oldest message that pages."
  default     = 300

  validation {
    condition     = var.queue_age_seconds >= 60
    error_message = "queue_age_seconds must be at least 60."
  }
}

variable "redis_cpu_percent" {
  type        = number
  description = "Redis engine CPU (%) that pages."
  default     = 80

  validation {
    condition     = var.redis_cpu_percent > 0 && var.redis_cpu_percent <= 100
    error_message = "redis_cpu_percent must be in (0, 100]."
  }
}

variable "redis_memory_percent" {
  type        = number
  description = "Redis memory use (%) that pages."
  default     = 80

  validation {
    condition     = var.redis_memory_percent > 0 && var.redis_memory_percent <= 100
    error_message = "redis_memory_percent must be in (0, 100]."
  }
}

variable "outbox_lag_seconds" {
  type        = number
  description = "Age (s) of the oldest outbox entry not yet relayed that pages (the app's OutboxLag; the stream functions' iterator age)."
  default     = 60

  validation {
    condition     = var.outbox_lag_seconds >= 5
    error_message = "outbox_lag_seconds must be at least 5."
  }
}

variable "stream_functions" {
  type        = list(string)
  description = "Functions (keys of function_names) fed by the table's stream: their iterator age pages."
  default     = ["forwarder", "indexer"]
}
