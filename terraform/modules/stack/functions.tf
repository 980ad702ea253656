# The function catalogue: one Lambda per entry point of the code (docker/functions.json
# names the same functions, images and handlers; tests/infra/test_terraform.py checks both
# against the code), and what each one is given.

locals {
  core_catalogue = {
    api = {
      image       = "api"
      handler     = "api.lambda_handler.handler"
      description = "The HTTP API behind API Gateway (payload 2.0)"
    }
    forwarder = {
      image       = "workers"
      handler     = "workers.forwarder.handler"
      description = "Table stream (OUTBOX# inserts) to the topic queues"
    }
    payments = {
      image       = "workers"
      handler     = "workers.queues.payments_handler"
      description = "SQS payments: capture and tickets, void or refund"
    }
    notifications = {
      image       = "workers"
      handler     = "workers.queues.notifications_handler"
      description = "SQS notifications: the confirmation mail"
    }
    webhooks = {
      image       = "workers"
      handler     = "workers.queues.webhooks_handler"
      description = "SQS webhooks: verified payment-gateway webhooks"
    }
    "images-queue" = {
      image       = "workers"
      handler     = "workers.queues.images_handler"
      description = "SQS images: variants of posters uploaded through the API"
    }
    images = {
      image       = "workers"
      handler     = "workers.images.handler"
      description = "S3 ObjectCreated under uploads/: presigned poster uploads"
    }
    expiry = {
      image       = "workers"
      handler     = "workers.expiry.handler"
      description = "EventBridge schedule: the expiry sweep"
    }
    indexer = {
      image       = "indexer"
      handler     = "indexer.lambda_handler.handler"
      description = "Table stream (OUTBOX# inserts) to the OpenSearch index"
    }
  }

  # With the gateway simulator, its webhooks wait in the table until this function (an
  # EventBridge schedule, every minute) delivers them to the API; a real provider sends
  # its own.
  simulated_gateway = var.payment_provider == "simulated"
  catalogue = merge(local.core_catalogue, {
    for name, spec in {
      "gateway-webhooks" = {
        image       = "workers"
        handler     = "workers.gateway_webhooks.handler"
        description = "EventBridge schedule: the gateway simulator's webhooks to the API"
      }
    } : name => spec if local.simulated_gateway
  })

  scheduled_functions = [for fn in ["expiry", "gateway-webhooks"] : fn if contains(keys(local.catalogue), fn)]

  # One deliverer at a time is enough (each webhook is claimed with a lease anyway); its
  # timeout is the schedule's minute, so one invocation follows the other.
  function_settings = merge(
    { "gateway-webhooks" = { memory_mb = 256, timeout_seconds = 60, reserved_concurrency = 1, provisioned_concurrency = 0 } },
    var.function_settings,
  )

  # Work queue → the function that drains it (workers/queues.py).
  queue_consumers = {
    payments      = "payments"
    notifications = "notifications"
    webhooks      = "webhooks"
    images        = "images-queue"
  }

  # Functions without a work queue get a failure queue: stream on-failure records,
  # failed asynchronous invocations.
  failure_queue_functions = concat(["api", "forwarder", "indexer", "images", "expiry"], local.simulated_gateway ? ["gateway-webhooks"] : [])

  dead_letter_arns = merge(
    { for queue, fn in local.queue_consumers : fn => module.queues.dlq_arns[queue] },
    { for fn in local.failure_queue_functions : fn => module.queues.failure_arns[fn] },
  )

  image_uris = {
    for name, spec in local.catalogue :
    name => "${module.ecr.repository_urls[spec.image]}:${lookup(var.image_tag_overrides, name, var.image_tag)}"
  }

  functions = {
    for name, spec in local.catalogue : name => {
      description             = spec.description
      image_uri               = local.image_uris[name]
      command                 = [spec.handler]
      memory_mb               = local.function_settings[name].memory_mb
      timeout_seconds         = local.function_settings[name].timeout_seconds
      reserved_concurrency    = local.function_settings[name].reserved_concurrency
      provisioned_concurrency = local.function_settings[name].provisioned_concurrency
      role_arn                = module.iam.role_arns[name]
      dead_letter_arn         = local.dead_letter_arns[name]
    }
  }

  # -- environments: every CONCERTBOOK_* variable a function reads (booking/settings.py) --
  region            = data.aws_region.current.name
  mail_from         = "${var.mail_from_name} <${var.mail_from_address}>"
  max_attempts      = tostring(var.queue_max_attempts)
  table_name        = module.table.name
  redis_url         = local.cache.url
  redis_cache       = local.cache.replication_group_id
  opensearch_url    = local.search.endpoint_url
  media_bucket      = module.media.bucket
  media_base_url    = module.media.base_url
  webhook_secret    = module.secrets.webhook_secret_arn
  ticket_signer_key = module.secrets.ticket_signing_key_arn

  # The functions that call the payment provider all name the same one (a payment the API
  # authorized is captured, voided or refunded by the payments function, and a webhook is
  # applied by the webhooks function); nothing is set for the simulator, the default.
  payment_provider = local.simulated_gateway ? {} : {
    CONCERTBOOK_PAYMENT_PROVIDER      = var.payment_provider
    CONCERTBOOK_TOSS_SECRET_KEY_ARN   = module.secrets.toss_secret_key_arn
    CONCERTBOOK_TOSS_SECURITY_KEY_ARN = module.secrets.toss_security_key_arn
  }

  environments = merge(local.core_environments, local.simulated_gateway ? {
    "gateway-webhooks" = {
      CONCERTBOOK_RUNTIME            = "aws"
      CONCERTBOOK_TABLE_NAME         = local.table_name
      CONCERTBOOK_AWS_REGION         = local.region
      CONCERTBOOK_PUBLIC_URL         = module.api.url
      CONCERTBOOK_WEBHOOK_SECRET_ARN = local.webhook_secret
    }
  } : {})

  core_environments = {
    api = merge(local.payment_provider, {
      CONCERTBOOK_RUNTIME                = "aws"
      CONCERTBOOK_TABLE_NAME             = local.table_name
      CONCERTBOOK_AWS_REGION             = local.region
      CONCERTBOOK_REDIS_URL              = local.redis_url
      CONCERTBOOK_REDIS_IAM_CACHE        = local.redis_cache
      CONCERTBOOK_OPENSEARCH_URL         = local.opensearch_url
      CONCERTBOOK_OPENSEARCH_INDEX       = var.opensearch_index
      CONCERTBOOK_MEDIA_BUCKET           = local.media_bucket
      CONCERTBOOK_MEDIA_BASE_URL         = local.media_base_url
      CONCERTBOOK_WEBHOOK_SECRET_ARN     = local.webhook_secret
      CONCERTBOOK_TICKET_SIGNING_KEY_ARN = local.ticket_signer_key
      CONCERTBOOK_QUEUE_URL_WEBHOOKS     = module.queues.urls["webhooks"]
    })
    forwarder = {
      CONCERTBOOK_RUNTIME                 = "aws"
      CONCERTBOOK_TABLE_NAME              = local.table_name
      CONCERTBOOK_AWS_REGION              = local.region
      CONCERTBOOK_QUEUE_URL_PAYMENTS      = module.queues.urls["payments"]
      CONCERTBOOK_QUEUE_URL_NOTIFICATIONS = module.queues.urls["notifications"]
      CONCERTBOOK_QUEUE_URL_IMAGES        = module.queues.urls["images"]
    }
    payments = merge(local.payment_provider, {
      CONCERTBOOK_RUNTIME                = "aws"
      CONCERTBOOK_TABLE_NAME             = local.table_name
      CONCERTBOOK_AWS_REGION             = local.region
      CONCERTBOOK_REDIS_URL              = local.redis_url
      CONCERTBOOK_REDIS_IAM_CACHE        = local.redis_cache
      CONCERTBOOK_TICKET_SIGNING_KEY_ARN = local.ticket_signer_key
      CONCERTBOOK_QUEUE_MAX_ATTEMPTS     = local.max_attempts
    })
    notifications = {
      CONCERTBOOK_RUNTIME            = "aws"
      CONCERTBOOK_TABLE_NAME         = local.table_name
      CONCERTBOOK_AWS_REGION         = local.region
      CONCERTBOOK_MAIL_FROM          = local.mail_from
      CONCERTBOOK_QUEUE_MAX_ATTEMPTS = local.max_attempts
    }
    webhooks = merge(local.payment_provider, {
      CONCERTBOOK_RUNTIME            = "aws"
      CONCERTBOOK_TABLE_NAME         = local.table_name
      CONCERTBOOK_AWS_REGION         = local.region
      CONCERTBOOK_REDIS_URL          = local.redis_url
      CONCERTBOOK_REDIS_IAM_CACHE    = local.redis_cache
      CONCERTBOOK_QUEUE_MAX_ATTEMPTS = local.max_attempts
    })
    "images-queue" = {
      CONCERTBOOK_RUNTIME            = "aws"
      CONCERTBOOK_TABLE_NAME         = local.table_name
      CONCERTBOOK_AWS_REGION         = local.region
      CONCERTBOOK_MEDIA_BUCKET       = local.media_bucket
      CONCERTBOOK_MEDIA_BASE_URL     = local.media_base_url
      CONCERTBOOK_QUEUE_MAX_ATTEMPTS = local.max_attempts
    }
    images = {
      CONCERTBOOK_RUNTIME        = "aws"
      CONCERTBOOK_TABLE_NAME     = local.table_name
      CONCERTBOOK_AWS_REGION     = local.region
      CONCERTBOOK_MEDIA_BUCKET   = local.media_bucket
      CONCERTBOOK_MEDIA_BASE_URL = local.media_base_url
    }
    expiry = {
      CONCERTBOOK_RUNTIME         = "aws"
      CONCERTBOOK_TABLE_NAME      = local.table_name
      CONCERTBOOK_AWS_REGION      = local.region
      CONCERTBOOK_REDIS_URL       = local.redis_url
      CONCERTBOOK_REDIS_IAM_CACHE = local.redis_cache
    }
    indexer = {
      # No Redis: listings are rebuilt from the table's own (strongly consistent) counts.
      CONCERTBOOK_RUNTIME          = "aws"
      CONCERTBOOK_TABLE_NAME       = local.table_name
      CONCERTBOOK_AWS_REGION       = local.region
      CONCERTBOOK_OPENSEARCH_URL   = local.opensearch_url
      CONCERTBOOK_OPENSEARCH_INDEX = var.opensearch_index
    }
  }
}
