variable "project" {
  type        = string
  description = "Project name, the first part of every name."
  default     = "concertbook"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,15}$", var.project))
    error_message = "project: 3-16 lowercase letters or digits, starting with a letter."
  }
}

variable "stage" {
  type        = string
  description = "The stage: dev or prod."

  validation {
    condition     = contains(["dev", "prod"], var.stage)
    error_message = "stage must be dev or prod."
  }
}

variable "image_tag" {
  type        = string
  description = "Image tag every function runs (docker/build.sh tags images with the commit)."

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid, immutable tag (not latest)."
  }
}

variable "image_tag_overrides" {
  type        = map(string)
  description = "Per-function tags that win over image_tag: pin one function to an older image (rollback)."
  default     = {}

  validation {
    condition     = alltrue([for name, tag in var.image_tag_overrides : contains(["api", "forwarder", "payments", "notifications", "webhooks", "images-queue", "images", "expiry", "indexer", "gateway-webhooks"], name) && can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", tag)) && tag != "latest"])
    error_message = "image_tag_overrides: keys are function names, values immutable tags (not latest)."
  }
}

variable "payment_provider" {
  type        = string
  description = "simulated: the gateway simulator (card tokens such as tok_visa; no money moves), with the gateway-webhooks function that delivers its webhooks. toss: Toss Payments, its secret and security keys in two secrets of the stage (docs/DEPLOY.md seeds them)."
  default     = "simulated"

  validation {
    condition     = contains(["simulated", "toss"], var.payment_provider)
    error_message = "payment_provider must be simulated or toss."
  }
}

variable "function_settings" {
  type = map(object({
    memory_mb               = number
    timeout_seconds         = number
    reserved_concurrency    = number
    provisioned_concurrency = optional(number, 0)
  }))
  description = "Memory (MB), timeout (s), reserved and provisioned concurrency of every function."

  validation {
    condition     = length(setsubtract(keys(var.function_settings), ["api", "forwarder", "payments", "notifications", "webhooks", "images-queue", "images", "expiry", "indexer", "gateway-webhooks"])) == 0 && length(setsubtract(["api", "forwarder", "payments", "notifications", "webhooks", "images-queue", "images", "expiry", "indexer"], keys(var.function_settings))) == 0
    error_message = "function_settings needs the functions api, forwarder, payments, notifications, webhooks, images-queue, images, expiry, indexer, and may set gateway-webhooks (deployed with the gateway simulator)."
  }

  validation {
    condition     = alltrue([for f in values(var.function_settings) : f.memory_mb >= 128 && f.memory_mb <= 10240])
    error_message = "memory_mb must be between 128 and 10240."
  }

  validation {
    condition     = alltrue([for f in values(var.function_settings) : f.timeout_seconds >= 1 && f.timeout_seconds <= 900])
    error_message = "timeout_seconds must be between 1 and 900."
  }

  validation {
    condition     = var.function_settings["api"].timeout_seconds <= 30
    error_message = "The API function's timeout must fit API Gateway's 30 s integration limit."
  }

  validation {
    condition     = alltrue([for f in values(var.function_settings) : f.reserved_concurrency >= 1 && f.provisioned_concurrency >= 0 && f.provisioned_concurrency <= f.reserved_concurrency])
    error_message = "reserved_concurrency must be at least 1, provisioned_concurrency between 0 and it."
  }
}

variable "queue_max_attempts" {
  type        = number
  description = "CONCERTBOOK_QUEUE_MAX_ATTEMPTS: deliveries before a consumer parks a message; redrive allows one more."
  default     = 5

  validation {
    condition     = var.queue_max_attempts >= 1 && var.queue_max_attempts <= 999
    error_message = "queue_max_attempts must be between 1 and 999."
  }
}

variable "queue_batch_sizes" {
  type        = map(number)
  description = "Messages per invocation of each queue's function (images: 1, a batch's messages run at once)."
  default = {
    payments      = 10
    notifications = 10
    webhooks      = 10
    images        = 1
  }

  validation {
    condition     = length(setsubtract(keys(var.queue_batch_sizes), ["payments", "notifications", "webhooks", "images"])) == 0 && length(setsubtract(["payments", "notifications", "webhooks", "images"], keys(var.queue_batch_sizes))) == 0 && alltrue([for n in values(var.queue_batch_sizes) : n >= 1 && n <= 10])
    error_message = "queue_batch_sizes: payments, notifications, webhooks, images, each 1-10."
  }
}

variable "queue_maximum_concurrency" {
  type        = map(number)
  description = "Most concurrent invocations each queue's mapping starts (2-1000; at most the function's reserved concurrency)."
  default = {
    payments      = 10
    notifications = 5
    webhooks      = 10
    images        = 2
  }

  validation {
    condition     = length(setsubtract(keys(var.queue_maximum_concurrency), ["payments", "notifications", "webhooks", "images"])) == 0 && length(setsubtract(["payments", "notifications", "webhooks", "images"], keys(var.queue_maximum_concurrency))) == 0 && alltrue([for n in values(var.queue_maximum_concurrency) : n >= 2 && n <= 1000])
    error_message = "queue_maximum_concurrency: payments, notifications, webhooks, images, each 2-1000."
  }

  # More pollers than the consumer's reserved concurrency only turns into throttled
  # batches whose messages come back later.
  validation {
    condition = alltrue([
      for queue, fn in { payments = "payments", notifications = "notifications", webhooks = "webhooks", images = "images-queue" } :
      lookup(var.queue_maximum_concurrency, queue, 2) <= try(var.function_settings[fn].reserved_concurrency, 1000)
    ])
    error_message = "Each queue's maximum concurrency must not exceed its consumer's reserved concurrency."
  }
}

variable "stream_batch_size" {
  type        = number
  description = "Stream records per invocation of the forwarder and the indexer (~100: docs/PERFORMANCE.md)."
  default     = 100

  validation {
    condition     = var.stream_batch_size >= 1 && var.stream_batch_size <= 1000
    error_message = "stream_batch_size must be between 1 and 1000."
  }
}

variable "stream_parallelization_factor" {
  type        = number
  description = "Concurrent batches per stream shard (1-10); order is kept per partition key."
  default     = 2

  validation {
    condition     = var.stream_parallelization_factor >= 1 && var.stream_parallelization_factor <= 10
    error_message = "stream_parallelization_factor must be between 1 and 10."
  }
}

variable "stream_maximum_retry_attempts" {
  type        = number
  description = "Retries of a failing stream batch (halved each time) before its records go to the on-failure queue."
  default     = 10

  validation {
    condition     = var.stream_maximum_retry_attempts >= 0 && var.stream_maximum_retry_attempts <= 10000
    error_message = "stream_maximum_retry_attempts must be between 0 and 10000."
  }
}

variable "architecture" {
  type        = string
  description = "Instruction set of the function images: x86_64 or arm64."
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "vpc_cidr" {
  type        = string
  description = "The stage VPC's IPv4 range (/16)."

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr))
    error_message = "vpc_cidr must be an IPv4 CIDR."
  }
}

variable "availability_zone_ids" {
  type        = list(string)
  description = "Zone ids of the stage (2 or 3, e.g. apne2-az1)."

  validation {
    condition     = length(var.availability_zone_ids) >= 2 && length(var.availability_zone_ids) <= 3
    error_message = "availability_zone_ids: 2 or 3 zone ids."
  }
}

variable "nat_gateway_per_az" {
  type        = bool
  description = "One NAT gateway per zone (prod) instead of one for the VPC."
  default     = false
}

variable "table_name" {
  type        = string
  description = "Name of the table; null: the stage's name (concertbook-<stage>). Set only to adopt a table restored from a backup (docs/DEPLOY.md)."
  default     = null

  validation {
    condition     = var.table_name == null || can(regex("^[a-zA-Z0-9_.-]{3,255}$", coalesce(var.table_name, "xxx")))
    error_message = "table_name: 3-255 letters, digits, '_', '-' or '.'."
  }
}

variable "table_billing_mode" {
  type        = string
  description = "PAY_PER_REQUEST (on-demand) or PROVISIONED (with autoscaling)."
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.table_billing_mode)
    error_message = "table_billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "table_min_read_capacity" {
  type        = number
  description = "PROVISIONED only: lowest read capacity of the table and each index."
  default     = 25

  validation {
    condition     = var.table_min_read_capacity >= 1
    error_message = "table_min_read_capacity must be at least 1."
  }
}

variable "table_max_read_capacity" {
  type        = number
  description = "PROVISIONED only: highest read capacity."
  default     = 4000

  validation {
    condition     = var.table_max_read_capacity >= 1
    error_message = "table_max_read_capacity must be at least 1."
  }
}

variable "table_min_write_capacity" {
  type        = number
  description = "PROVISIONED only: lowest write capacity of the table and each index."
  default     = 25

  validation {
    condition     = var.table_min_write_capacity >= 1
    error_message = "table_min_write_capacity must be at least 1."
  }
}

variable "table_max_write_capacity" {
  type        = number
  description = "PROVISIONED only: highest write capacity."
  default     = 40000

  validation {
    condition     = var.table_max_write_capacity >= 1
    error_message = "table_max_write_capacity must be at least 1."
  }
}

variable "redis_node_type" {
  type        = string
  description = "ElastiCache node type."
  default     = "cache.t4g.small"

  validation {
    condition     = can(regex("^cache\\.[a-z0-9]+\\.[a-z0-9]+$", var.redis_node_type))
    error_message = "redis_node_type must look like cache.<family>.<size>."
  }
}

variable "redis_multi_az" {
  type        = bool
  description = "A Redis replica in a second zone with automatic failover."
  default     = false
}

variable "opensearch_instance_type" {
  type        = string
  description = "OpenSearch data node type."
  default     = "t3.small.search"

  validation {
    condition     = endswith(var.opensearch_instance_type, ".search")
    error_message = "opensearch_instance_type must end in .search."
  }
}

variable "opensearch_instance_count" {
  type        = number
  description = "OpenSearch data nodes (more than one: spread over the zones)."
  default     = 1

  validation {
    condition     = var.opensearch_instance_count >= 1 && var.opensearch_instance_count <= 20
    error_message = "opensearch_instance_count must be between 1 and 20."
  }
}

variable "opensearch_dedicated_master_type" {
  type        = string
  description = "Type of three dedicated master nodes, or null for none."
  default     = null

  validation {
    condition     = var.opensearch_dedicated_master_type == null || endswith(coalesce(var.opensearch_dedicated_master_type, "x.search"), ".search")
    error_message = "opensearch_dedicated_master_type must be null or end in .search."
  }
}

variable "opensearch_volume_size_gb" {
  type        = number
  description = "gp3 volume per OpenSearch data node, GiB."
  default     = 10

  validation {
    condition     = var.opensearch_volume_size_gb >= 10 && var.opensearch_volume_size_gb <= 1024
    error_message = "opensearch_volume_size_gb must be between 10 and 1024."
  }
}

variable "opensearch_index" {
  type        = string
  description = "CONCERTBOOK_OPENSEARCH_INDEX: the alias searched and written."
  default     = "concerts"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_-]{0,63}$", var.opensearch_index))
    error_message = "opensearch_index must be a lowercase OpenSearch name."
  }
}

variable "api_throttling_burst_limit" {
  type        = number
  description = "API stage burst limit (requests)."
  default     = 5000

  validation {
    condition     = var.api_throttling_burst_limit >= 1 && var.api_throttling_burst_limit <= 100000
    error_message = "api_throttling_burst_limit must be between 1 and 100000."
  }
}

variable "api_throttling_rate_limit" {
  type        = number
  description = "API stage steady rate limit (requests per second)."
  default     = 10000

  validation {
    condition     = var.api_throttling_rate_limit >= 1 && var.api_throttling_rate_limit <= 100000
    error_message = "api_throttling_rate_limit must be between 1 and 100000."
  }
}

variable "web_origins" {
  type        = list(string)
  description = "Origins of the web front end: CORS of the API and of presigned poster uploads."

  validation {
    condition     = length(var.web_origins) > 0 && alltrue([for o in var.web_origins : can(regex("^(https://[a-z0-9.-]+|http://localhost)(:[0-9]+)?$", o))])
    error_message = "web_origins: https origins (http only for localhost), no wildcards."
  }
}

variable "cdn_price_class" {
  type        = string
  description = "CloudFront price class (PriceClass_200 serves Korea from nearby edges)."
  default     = "PriceClass_200"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.cdn_price_class)
    error_message = "cdn_price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "cdn_domain_names" {
  type        = list(string)
  description = "Custom domain names of the CDN; empty: the cloudfront.net name."
  default     = []
}

variable "cdn_certificate_arn" {
  type        = string
  description = "ACM certificate in us-east-1 for cdn_domain_names, or null."
  default     = null
}

variable "cdn_web_acl_arn" {
  type        = string
  description = "WAFv2 web ACL (CLOUDFRONT scope) for the CDN, or null."
  default     = null
}

variable "mail_from_name" {
  type        = string
  description = "Display name of the confirmation mail's sender."
  default     = "K-ConcertBook"
}

variable "mail_from_address" {
  type        = string
  description = "Sender address of the confirmation mail; the notifications function may send as no other."

  validation {
    condition     = can(regex("^[^@<> ]+@[^@<> ]+\\.[a-z]{2,}$", var.mail_from_address))
    error_message = "mail_from_address must be a plain e-mail address."
  }
}

variable "ses_identity" {
  type        = string
  description = "The verified SES identity (domain or address) mail is sent through."

  validation {
    condition     = length(var.ses_identity) > 3 && !strcontains(var.ses_identity, " ")
    error_message = "ses_identity must be a domain or an e-mail address."
  }
}

variable "alarm_emails" {
  type        = list(string)
  description = "Addresses paged by the alarms."

  validation {
    condition     = length(var.alarm_emails) > 0
    error_message = "alarm_emails needs at least one address."
  }
}

variable "search_admin_principals" {
  type        = list(string)
  description = "IAM principals that may assume the search admin role (with MFA)."

  validation {
    condition     = length(var.search_admin_principals) > 0
    error_message = "search_admin_principals needs at least one principal."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of every log group, in days (a value CloudWatch Logs accepts)."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch Logs' retention values."
  }
}

variable "emulator_unsupported" {
  type        = set(string)
  description = "Parts an AWS emulator cannot create (or would run itself), left out when the stage is applied to one (docs/DEPLOY.md, \"Applying against an emulator\"): elasticache, opensearch, cloudfront-managed-policies, sqs-redrive-allow-policy, stream-event-source-mappings. Empty on AWS."
  default     = []

  validation {
    condition     = alltrue([for part in var.emulator_unsupported : contains(["elasticache", "opensearch", "cloudfront-managed-policies", "sqs-redrive-allow-policy", "stream-event-source-mappings"], part)])
    error_message = "emulator_unsupported: elasticache, opensearch, cloudfront-managed-policies, sqs-redrive-allow-policy or stream-event-source-mappings."
  }
}
