# The prod stage: three zones with a NAT gateway each, a Redis replica with failover,
# three OpenSearch data nodes with dedicated masters, and concurrency caps sized for an
# onsale (raise the account's Lambda concurrency quota to match before the first one).

module "stack" {
  source = "../../modules/stack"

  stage               = "prod"
  image_tag           = var.image_tag
  image_tag_overrides = var.image_tag_overrides

  vpc_cidr              = "10.41.0.0/16"
  availability_zone_ids = ["apne2-az1", "apne2-az2", "apne2-az3"]
  nat_gateway_per_az    = true

  table_billing_mode = "PAY_PER_REQUEST"

  redis_node_type = "cache.r7g.large"
  redis_multi_az  = true

  opensearch_instance_type         = "r7g.large.search"
  opensearch_instance_count        = 3
  opensearch_dedicated_master_type = "m7g.large.search"
  opensearch_volume_size_gb        = 20

  # Provisioned concurrency of the API is billed around the clock (50 warm 1769 MB
  # environments cost about as much as the rest of the stage): raise it for an onsale
  # window only (docs/DEPLOY.md, "Before an onsale").
  function_settings = {
    api            = { memory_mb = 1769, timeout_seconds = 29, reserved_concurrency = 2000, provisioned_concurrency = 0 }
    forwarder      = { memory_mb = 512, timeout_seconds = 60, reserved_concurrency = 100 }
    payments       = { memory_mb = 1024, timeout_seconds = 30, reserved_concurrency = 200 }
    notifications  = { memory_mb = 1024, timeout_seconds = 30, reserved_concurrency = 50 }
    webhooks       = { memory_mb = 1024, timeout_seconds = 15, reserved_concurrency = 200 }
    "images-queue" = { memory_mb = 2048, timeout_seconds = 60, reserved_concurrency = 10 }
    images         = { memory_mb = 2048, timeout_seconds = 60, reserved_concurrency = 10 }
    expiry         = { memory_mb = 1024, timeout_seconds = 60, reserved_concurrency = 2 }
    indexer        = { memory_mb = 1769, timeout_seconds = 60, reserved_concurrency = 100 }
  }
  queue_maximum_concurrency = {
    payments      = 200
    notifications = 50
    webhooks      = 200
    images        = 10
  }
  stream_parallelization_factor = 4

  api_throttling_burst_limit = 5000
  api_throttling_rate_limit  = 10000

  web_origins             = var.web_origins
  mail_from_address       = var.mail_from_address
  ses_identity            = var.ses_identity
  alarm_emails            = var.alarm_emails
  search_admin_principals = length(var.search_admin_principals) > 0 ? var.search_admin_principals : ["arn:aws:iam::${var.account_id}:root"]
  log_retention_days      = 90

  payment_provider = var.payment_provider
}
