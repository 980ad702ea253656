variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the stage, e.g. concertbook-dev."
}

variable "functions" {
  type = map(object({
    description             = string
    image_uri               = string
    command                 = list(string)
    memory_mb               = number
    timeout_seconds         = number
    reserved_concurrency    = number
    provisioned_concurrency = optional(number, 0)
    role_arn                = string
    dead_letter_arn         = string
  }))
  description = "The functions by name: image, handler command, sizing, role and dead-letter queue."

  validation {
    condition     = alltrue([for f in values(var.functions) : f.memory_mb >= 128 && f.memory_mb <= 10240])
    error_message = "memory_mb must be between 128 and 10240."
  }

  validation {
    condition     = alltrue([for f in values(var.functions) : f.timeout_seconds >= 1 && f.timeout_seconds <= 900])
    error_message = "timeout_seconds must be between 1 and 900."
  }

  validation {
    condition     = alltrue([for f in values(var.functions) : f.reserved_concurrency >= 1])
    error_message = "Every function gets reserved concurrency of at least 1 (a cap, and a floor that others cannot take)."
  }

  validation {
    condition     = alltrue([for f in values(var.functions) : f.provisioned_concurrency >= 0 && f.provisioned_concurrency <= f.reserved_concurrency])
    error_message = "provisioned_concurrency must be between 0 and the function's reserved concurrency."
  }

  validation {
    condition     = alltrue([for f in values(var.functions) : length(f.command) == 1 && can(regex("^[a-z_][a-z0-9_.]*\\.[a-z_][a-z0-9_]*$", f.command[0]))])
    error_message = "command must be one handler, module.function."
  }
}

variable "environments" {
  type        = map(map(string))
  description = "Each function's CONCERTBOOK_* environment, by function (names of resources only: Redis authenticates with IAM, secrets are read by ARN)."
  sensitive   = true
}

variable "architecture" {
  type        = string
  description = "Instruction set of the images (x86_64 as docker/build.sh builds by default, or arm64)."
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets of the functions."

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "Functions run in at least two zones."
  }
}

variable "security_group_id" {
  type        = string
  description = "The Lambdas' security group."
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the functions' environment variables."
}

variable "logs_kms_key_arn" {
  type        = string
  description = "KMS key of the functions' log groups."
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the functions' logs, in days (a value CloudWatch Logs accepts)."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' retention values."
  }
}

variable "queue_triggers" {
  type = map(object({
    function                = string
    queue_arn               = string
    batch_size              = number
    batching_window_seconds = number
    maximum_concurrency     = number
  }))
  description = "SQS event source mappings by queue name."

  validation {
    condition     = alltrue([for t in values(var.queue_triggers) : t.batch_size >= 1 && t.batch_size <= 10000])
    error_message = "batch_size must be between 1 and 10000."
  }

  validation {
    condition     = alltrue([for t in values(var.queue_triggers) : t.batching_window_seconds >= 0 && t.batching_window_seconds <= 300 && (t.batch_size <= 10 || t.batching_window_seconds >= 1)])
    error_message = "batching_window_seconds must be 0-300, and at least 1 for batches over 10."
  }

  validation {
    condition     = alltrue([for t in values(var.queue_triggers) : t.maximum_concurrency >= 2 && t.maximum_concurrency <= 1000])
    error_message = "maximum_concurrency must be between 2 and 1000."
  }
}

variable "stream_arn" {
  type        = string
  description = "The table's stream."
}

variable "stream_triggers" {
  type = map(object({
    batch_size                 = number
    batching_window_seconds    = number
    parallelization_factor     = number
    maximum_retry_attempts     = number
    maximum_record_age_seconds = number
    on_failure_arn             = string
  }))
  description = "DynamoDB stream mappings by function (the forwarder, the indexer)."

  validation {
    condition     = length(var.stream_triggers) <= 2
    error_message = "A DynamoDB stream shard serves at most two readers."
  }

  validation {
    condition     = alltrue([for t in values(var.stream_triggers) : t.batch_size >= 1 && t.batch_size <= 10000])
    error_message = "batch_size must be between 1 and 10000."
  }

  validation {
    condition     = alltrue([for t in values(var.stream_triggers) : t.batching_window_seconds >= 0 && t.batching_window_seconds <= 300])
    error_message = "batching_window_seconds must be between 0 and 300."
  }

  validation {
    condition     = alltrue([for t in values(var.stream_triggers) : t.parallelization_factor >= 1 && t.parallelization_factor <= 10])
    error_message = "parallelization_factor must be between 1 and 10."
  }

  validation {
    condition     = alltrue([for t in values(var.stream_triggers) : t.maximum_retry_attempts >= 0 && t.maximum_retry_attempts <= 10000])
    error_message = "maximum_retry_attempts must be between 0 and 10000 (not -1: a poison batch must end up in the on-failure queue)."
  }

  validation {
    condition     = alltrue([for t in values(var.stream_triggers) : t.maximum_record_age_seconds == -1 || (t.maximum_record_age_seconds >= 60 && t.maximum_record_age_seconds <= 604800)])
    error_message = "maximum_record_age_seconds must be -1 or between 60 and 604800."
  }
}

variable "schedules" {
  type        = map(string)
  description = "EventBridge schedule expressions by function."

  validation {
    condition     = alltrue([for e in values(var.schedules) : can(regex("^(rate|cron)\\(.+\\)$", e))])
    error_message = "Schedules are rate(...) or cron(...) expressions."
  }
}

variable "async_invocations" {
  type = map(object({
    maximum_retry_attempts    = number
    maximum_event_age_seconds = number
  }))
  description = "Retry policy of the asynchronously invoked functions (schedule, S3), by function."

  validation {
    condition     = alltrue([for a in values(var.async_invocations) : a.maximum_retry_attempts >= 0 && a.maximum_retry_attempts <= 2])
    error_message = "maximum_retry_attempts must be between 0 and 2."
  }

  validation {
    condition     = alltrue([for a in values(var.async_invocations) : a.maximum_event_age_seconds >= 60 && a.maximum_event_age_seconds <= 21600])
    error_message = "maximum_event_age_seconds must be between 60 and 21600."
  }
}

variable "upload_trigger" {
  type = object({
    function   = string
    bucket_id  = string
    bucket_arn = string
    prefix     = string
  })
  description = "The function the media bucket notifies of new objects under prefix (uploads/)."
}
