variable "name_prefix" {
  type        = string
  description = "Prefix of every name in the stage, e.g. concertbook-dev."
}

variable "functions" {
  type        = set(string)
  description = "The functions, one role each; every one must have a policy document in this module."

  validation {
    condition     = length(setsubtract(var.functions, ["api", "forwarder", "payments", "notifications", "webhooks", "images-queue", "images", "expiry", "indexer", "gateway-webhooks"])) == 0
    error_message = "A function without a policy document here: write its least-privilege policy first."
  }
}

variable "table_arn" {
  type        = string
  description = "ARN of the table."
}

variable "queue_arns" {
  type        = map(string)
  description = "Work queue ARNs by queue name (payments, notifications, images, webhooks)."
}

variable "dlq_arns" {
  type        = map(string)
  description = "Dead-letter queue ARNs by work queue name."
}

variable "failure_queue_arns" {
  type        = map(string)
  description = "Failure queue ARNs by function (api, forwarder, indexer, images, expiry, and gateway-webhooks when it is deployed)."
}

variable "cache_arn" {
  type        = string
  description = "ARN of the Redis replication group (IAM authentication)."
}

variable "cache_user_arn" {
  type        = string
  description = "ARN of the Redis user the functions authenticate as."
}

variable "media_bucket_arn" {
  type        = string
  description = "ARN of the media bucket."
}

variable "media_kms_key_arn" {
  type        = string
  description = "KMS key of the media bucket."
}

variable "data_kms_key_arn" {
  type        = string
  description = "The data key (table, queues, secrets, function environments)."
}

variable "webhook_secret_arn" {
  type        = string
  description = "ARN of the webhook secret."
}

variable "ticket_signing_key_arn" {
  type        = string
  description = "ARN of the ticket signing key secret."
}

variable "payment_provider_secret_arns" {
  type        = list(string)
  description = "Secrets of the payment provider that api, payments and webhooks read (Toss Payments' two keys); empty with the gateway simulator."
  default     = []
}

variable "opensearch_domain_arn" {
  type        = string
  description = "ARN of the search domain."
}

variable "ses_identity_arns" {
  type        = list(string)
  description = "SES identities (domain or address) the confirmation mail is sent through."

  validation {
    condition     = length(var.ses_identity_arns) > 0 && alltrue([for a in var.ses_identity_arns : can(regex("^arn:aws[a-z-]*:ses:[a-z0-9-]+:[0-9]{12}:identity/.+$", a))])
    error_message = "ses_identity_arns must be SES identity ARNs."
  }
}

variable "mail_from_address" {
  type        = string
  description = "The only From address the notifications function may send as."

  validation {
    condition     = can(regex("^[^@<> ]+@[^@<> ]+\\.[a-z]{2,}$", var.mail_from_address))
    error_message = "mail_from_address must be a plain e-mail address."
  }
}

variable "search_admin_principals" {
  type        = list(string)
  description = "IAM principals (ARNs) that may assume the search admin role, with MFA."

  validation {
    condition     = length(var.search_admin_principals) > 0
    error_message = "Name at least one principal (e.g. the account root or an SSO admin role)."
  }
}
