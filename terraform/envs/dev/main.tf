# The dev stage: everything prod has, at the smallest sizes that still exercise it
# (one NAT gateway, one Redis node, one OpenSearch node, low concurrency caps).

module "stack" {
  source = "../../modules/stack"

  stage               = "dev"
  image_tag           = var.image_tag
  image_tag_overrides = var.image_tag_overrides

  vpc_cidr              = "10.40.0.0/16"
  availability_zone_ids = ["apne2-az1", "apne2-az3"]
  nat_gateway_per_az    = false

  table_billing_mode = "PAY_PER_REQUEST"

  redis_node_type = "cache.t4g.small"
  redis_multi_az  = false

  opensearch_instance_type         = "t3.small.search"
  opensearch_instance_count        = 1
  opensearch_dedicated_master_type = null
  opensearch_volume_size_gb        = 10

  function_settings = {
    api            = { memory_mb = 1024, timeout_seconds = 29, reserved_concurrency = 20 }
    forwarder      = { memory_mb = 512, timeout_seconds = 60, reserved_concurrency = 4 }
    payments       = { memory_mb = 512, timeout_seconds = 30, reserved_concurrency = 4 }
    notifications  = { memory_mb = 512, timeout_seconds = 30, reserved_concurrency = 2 }
    webhooks       = { memory_mb = 512, timeout_seconds = 15, reserved_concurrency = 4 }
    "images-queue" = { memory_mb = 2048, timeout_seconds = 60, reserved_concurrency = 2 }
    images         = { memory_mb = 2048, timeout_seconds = 60, reserved_concurrency = 2 }
    expiry         = { memory_mb = 512, timeout_seconds = 60, reserved_concurrency = 2 }
    indexer        = { memory_mb = 1024, timeout_seconds = 60, reserved_concurrency = 4 }
    # The gateway simulator's webhook deliverer (payment_provider simulated).
    "gateway-webhooks" = { memory_mb = 256, timeout_seconds = 60, reserved_concurrency = 1 }
  }
  queue_maximum_concurrency = {
    payments      = 4
    notifications = 2
    webhooks      = 4
    images        = 2
  }
  stream_parallelization_factor = 1

  api_throttling_burst_limit = 200
  api_throttling_rate_limit  = 100

  web_origins             = var.web_origins
  mail_from_address       = var.mail_from_address
  ses_identity            = var.ses_identity
  alarm_emails            = var.alarm_emails
  search_admin_principals = length(var.search_admin_principals) > 0 ? var.search_admin_principals : ["arn:aws:iam::${var.account_id}:root"]
  log_retention_days      = 14

  payment_provider = var.payment_provider

  emulator_unsupported = var.emulator_unsupported
}
