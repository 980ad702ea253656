# One stage of K-ConcertBook: the small modules wired together. The environment roots
# (envs/dev, envs/prod) call this with their sizes; everything below is the same in
# every stage.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  name_prefix    = "${var.project}-${var.stage}"
  arn_prefix     = "arn:${data.aws_partition.current.partition}"
  region_account = "${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}"
  ses_identity_arn = format(
    "arn:%s:ses:%s:%s:identity/%s",
    data.aws_partition.current.partition,
    data.aws_region.current.name,
    data.aws_caller_identity.current.account_id,
    var.ses_identity,
  )
}

module "keys" {
  source      = "../keys"
  name_prefix = local.name_prefix
}

module "network" {
  source                = "../network"
  name_prefix           = local.name_prefix
  cidr_block            = var.vpc_cidr
  availability_zone_ids = var.availability_zone_ids
  nat_gateway_per_az    = var.nat_gateway_per_az
  log_retention_days    = var.log_retention_days
  logs_kms_key_arn      = module.keys.logs_key_arn
}

module "table" {
  source             = "../table"
  table_name         = coalesce(var.table_name, local.name_prefix)
  billing_mode       = var.table_billing_mode
  min_read_capacity  = var.table_min_read_capacity
  max_read_capacity  = var.table_max_read_capacity
  min_write_capacity = var.table_min_write_capacity
  max_write_capacity = var.table_max_write_capacity
  kms_key_arn        = module.keys.data_key_arn
}

# On an emulator that cannot create them (var.emulator_unsupported, never on AWS) the cache
# and the search domain are left out; what refers to them gets the ARNs and names they would
# have had, and the functions run without them (no Redis; SQLite FTS5 for search).
locals {
  with_cache  = !contains(var.emulator_unsupported, "elasticache")
  with_search = !contains(var.emulator_unsupported, "opensearch")

  cache = local.with_cache ? {
    arn                  = module.cache[0].arn
    user_arn             = module.cache[0].user_arn
    node_ids             = module.cache[0].node_ids
    url                  = module.cache[0].url
    replication_group_id = module.cache[0].replication_group_id
    } : {
    arn                  = "${local.arn_prefix}:elasticache:${local.region_account}:replicationgroup:${local.name_prefix}-redis"
    user_arn             = "${local.arn_prefix}:elasticache:${local.region_account}:user:${local.name_prefix}-app"
    node_ids             = []
    url                  = null
    replication_group_id = null
  }

  search = local.with_search ? {
    arn          = module.search[0].arn
    domain_name  = module.search[0].domain_name
    endpoint_url = module.search[0].endpoint_url
    } : {
    arn          = "${local.arn_prefix}:es:${local.region_account}:domain/${local.name_prefix}"
    domain_name  = local.name_prefix
    endpoint_url = null
  }
}

moved {
  from = module.cache
  to   = module.cache[0]
}

moved {
  from = module.search
  to   = module.search[0]
}

module "cache" {
  count             = local.with_cache ? 1 : 0
  source            = "../cache"
  name_prefix       = local.name_prefix
  subnet_ids        = module.network.private_subnet_ids
  security_group_id = module.network.redis_security_group_id
  kms_key_arn       = module.keys.data_key_arn
  node_type         = var.redis_node_type
  multi_az          = var.redis_multi_az
}

module "secrets" {
  source      = "../secrets"
  name_prefix = local.name_prefix
  kms_key_arn = module.keys.data_key_arn
  toss_keys   = var.payment_provider == "toss"
}

module "queues" {
  source         = "../queues"
  name_prefix    = local.name_prefix
  max_attempts   = var.queue_max_attempts
  kms_key_arn    = module.keys.data_key_arn
  failure_queues = toset(local.failure_queue_functions)
  redrive_allow  = !contains(var.emulator_unsupported, "sqs-redrive-allow-policy")
  consumers = {
    for queue, fn in local.queue_consumers : queue => {
      timeout_seconds = var.function_settings[fn].timeout_seconds
    }
  }
}

module "media" {
  source              = "../media"
  name_prefix         = local.name_prefix
  upload_origins      = var.web_origins
  price_class         = var.cdn_price_class
  domain_names        = var.cdn_domain_names
  acm_certificate_arn = var.cdn_certificate_arn
  web_acl_arn         = var.cdn_web_acl_arn

  look_up_managed_policies = !contains(var.emulator_unsupported, "cloudfront-managed-policies")
}

module "ecr" {
  source       = "../ecr"
  repositories = toset([for spec in values(local.catalogue) : spec.image])
  kms_key_arn  = module.keys.data_key_arn
}

module "iam" {
  source                       = "../iam"
  name_prefix                  = local.name_prefix
  functions                    = toset(keys(local.catalogue))
  table_arn                    = module.table.arn
  queue_arns                   = module.queues.arns
  dlq_arns                     = module.queues.dlq_arns
  failure_queue_arns           = module.queues.failure_arns
  cache_arn                    = local.cache.arn
  cache_user_arn               = local.cache.user_arn
  media_bucket_arn             = module.media.bucket_arn
  media_kms_key_arn            = module.media.kms_key_arn
  data_kms_key_arn             = module.keys.data_key_arn
  webhook_secret_arn           = module.secrets.webhook_secret_arn
  ticket_signing_key_arn       = module.secrets.ticket_signing_key_arn
  opensearch_domain_arn        = local.search.arn
  payment_provider_secret_arns = compact([module.secrets.toss_secret_key_arn, module.secrets.toss_security_key_arn])
  ses_identity_arns            = [local.ses_identity_arn]
  mail_from_address            = var.mail_from_address
  search_admin_principals      = var.search_admin_principals
}

module "search" {
  count                 = local.with_search ? 1 : 0
  source                = "../search"
  domain_name           = local.name_prefix
  instance_type         = var.opensearch_instance_type
  instance_count        = var.opensearch_instance_count
  dedicated_master_type = var.opensearch_dedicated_master_type
  volume_size_gb        = var.opensearch_volume_size_gb
  subnet_ids            = module.network.private_subnet_ids
  security_group_id     = module.network.opensearch_security_group_id
  kms_key_arn           = module.keys.data_key_arn
  logs_kms_key_arn      = module.keys.logs_key_arn
  log_retention_days    = var.log_retention_days
  master_role_arn       = module.iam.search_admin_role_arn
  client_role_arns      = [module.iam.role_arns["api"], module.iam.role_arns["indexer"]]
}

module "functions" {
  source      = "../functions"
  name_prefix = local.name_prefix
  functions   = local.functions
  # A variable whose part is left out (an emulator) is not set at all.
  environments = {
    for name, variables in local.environments : name => { for key, value in variables : key => value if value != null }
  }
  architecture       = var.architecture
  subnet_ids         = module.network.private_subnet_ids
  security_group_id  = module.network.lambda_security_group_id
  kms_key_arn        = module.keys.data_key_arn
  logs_kms_key_arn   = module.keys.logs_key_arn
  log_retention_days = var.log_retention_days
  stream_arn         = module.table.stream_arn

  queue_triggers = {
    for queue, fn in local.queue_consumers : queue => {
      function                = fn
      queue_arn               = module.queues.arns[queue]
      batch_size              = var.queue_batch_sizes[queue]
      batching_window_seconds = 0
      maximum_concurrency     = var.queue_maximum_concurrency[queue]
    }
  }

  # Batches of ~100: docs/PERFORMANCE.md measured the indexer at ~100 docs/s one by one
  # and ~1,600 docs/s in batches of 100-500; the forwarder sends one message per record.
  # (Left out on an emulator that would run the functions itself: emulator_unsupported.)
  stream_triggers = {
    for fn in ["forwarder", "indexer"] : fn => {
      batch_size                 = var.stream_batch_size
      batching_window_seconds    = 1
      parallelization_factor     = var.stream_parallelization_factor
      maximum_retry_attempts     = var.stream_maximum_retry_attempts
      maximum_record_age_seconds = -1
      on_failure_arn             = module.queues.failure_arns[fn]
    } if !contains(var.emulator_unsupported, "stream-event-source-mappings")
  }

  # Every minute; a failed sweep or delivery round is not retried (the next one catches
  # up) and goes straight to its failure queue. A failed upload is retried twice within
  # the hour.
  schedules = { for fn in local.scheduled_functions : fn => "rate(1 minute)" }
  async_invocations = merge(
    { for fn in local.scheduled_functions : fn => { maximum_retry_attempts = 0, maximum_event_age_seconds = 60 } },
    { images = { maximum_retry_attempts = 2, maximum_event_age_seconds = 3600 } },
  )

  upload_trigger = {
    function   = "images"
    bucket_id  = module.media.bucket
    bucket_arn = module.media.bucket_arn
    prefix     = "uploads/"
  }
}

module "api" {
  source                 = "../api"
  name_prefix            = local.name_prefix
  function_name          = module.functions.function_names["api"]
  function_qualifier     = module.functions.alias_name
  function_invoke_arn    = module.functions.alias_invoke_arns["api"]
  integration_timeout_ms = min(30000, var.function_settings["api"].timeout_seconds * 1000)
  throttling_burst_limit = var.api_throttling_burst_limit
  throttling_rate_limit  = var.api_throttling_rate_limit
  cors_allowed_origins   = var.web_origins
  log_retention_days     = var.log_retention_days
  logs_kms_key_arn       = module.keys.logs_key_arn
}

module "observability" {
  source                 = "../observability"
  name_prefix            = local.name_prefix
  alarm_emails           = var.alarm_emails
  kms_key_arn            = module.keys.logs_key_arn
  function_names         = module.functions.function_names
  api_id                 = module.api.api_id
  api_stage              = module.api.stage_name
  table_name             = module.table.name
  queue_names            = module.queues.names
  dlq_names              = module.queues.dlq_names
  failure_queue_names    = module.queues.failure_names
  opensearch_domain_name = local.search.domain_name
  redis_node_ids         = local.cache.node_ids
}
