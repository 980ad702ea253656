variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the stage, e.g. concertbook-dev."
}

variable "consumers" {
  type = map(object({
    timeout_seconds = number
  }))
  description = "Work queues by name (payments, notifications, images, webhooks), each with its consumer function's timeout."

  validation {
    condition     = alltrue([for q in values(var.consumers) : q.timeout_seconds >= 1 && q.timeout_seconds <= 900])
    error_message = "Consumer timeouts must be between 1 and 900 seconds."
  }
}

variable "failure_queues" {
  type        = set(string)
  description = "Functions that get a failure queue (stream on-failure destinations, asynchronous DLQs)."
}

variable "max_attempts" {
  type        = number
  description = "CONCERTBOOK_QUEUE_MAX_ATTEMPTS: deliveries before the consumer parks a message (redrive allows one more)."
  default     = 5

  validation {
    condition     = var.max_attempts >= 1 && var.max_attempts <= 999
    error_message = "max_attempts must be between 1 and 999 (SQS allows maxReceiveCount up to 1000)."
  }
}

variable "retention_seconds" {
  type        = number
  description = "How long a work queue keeps a message (60 s - 14 days)."
  default     = 345600

  validation {
    condition     = var.retention_seconds >= 60 && var.retention_seconds <= 1209600
    error_message = "retention_seconds must be between 60 and 1209600."
  }
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key of the queues' server-side encryption."
}

variable "redrive_allow" {
  type        = bool
  description = "Each DLQ accepts messages only from its queue (redrive allow policy); false only on an emulator that lacks the attribute (docs/DEPLOY.md)."
  default     = true
}
