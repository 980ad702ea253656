# One stage, wired: the function catalogue, what each function is given (its dead-letter
# queue, its settings, its image, its role, its environment) and the settings a stage may
# not get wrong. The modules' own contracts are in their tests; tests/infra/test_terraform.py
# compares the planned stages with the code and follows the values between the modules.

mock_provider "aws" {
  source = "../../tests/aws"
}

# Named queues and roles, so a function given another function's queue or role shows.
override_module {
  target = module.queues
  outputs = {
    urls          = { for q in ["payments", "notifications", "images", "webhooks"] : q => "https://sqs.ap-northeast-2.amazonaws.com/123456789012/cb-${q}" }
    arns          = { for q in ["payments", "notifications", "images", "webhooks"] : q => "arn:aws:sqs:ap-northeast-2:123456789012:cb-${q}" }
    names         = { for q in ["payments", "notifications", "images", "webhooks"] : q => "cb-${q}" }
    dlq_arns      = { for q in ["payments", "notifications", "images", "webhooks"] : q => "arn:aws:sqs:ap-northeast-2:123456789012:cb-${q}-dlq" }
    dlq_names     = { for q in ["payments", "notifications", "images", "webhooks"] : q => "cb-${q}-dlq" }
    failure_arns  = { for f in ["api", "forwarder", "indexer", "images", "expiry", "gateway-webhooks"] : f => "arn:aws:sqs:ap-northeast-2:123456789012:cb-${f}-failures" }
    failure_names = { for f in ["api", "forwarder", "indexer", "images", "expiry", "gateway-webhooks"] : f => "cb-${f}-failures" }
  }
}

override_module {
  target = module.iam
  outputs = {
    role_arns             = { for f in ["api", "forwarder", "payments", "notifications", "webhooks", "images-queue", "images", "expiry", "indexer", "gateway-webhooks"] : f => "arn:aws:iam::123456789012:role/cb-fn-${f}" }
    role_names            = { for f in ["api", "forwarder", "payments", "notifications", "webhooks", "images-queue", "images", "expiry", "indexer", "gateway-webhooks"] : f => "cb-fn-${f}" }
    search_admin_role_arn = "arn:aws:iam::123456789012:role/cb-search-admin"
  }
}

variables {
  stage                 = "dev"
  image_tag             = "abc123"
  vpc_cidr              = "10.40.0.0/16"
  availability_zone_ids = ["apne2-az1", "apne2-az3"]
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
  }
  queue_maximum_concurrency = { payments = 4, notifications = 2, webhooks = 4, images = 2 }
  web_origins               = ["https://dev.concertbook.example"]
  mail_from_address         = "tickets@dev.concertbook.example"
  ses_identity              = "dev.concertbook.example"
  alarm_emails              = ["oncall@concertbook.example"]
  search_admin_principals   = ["arn:aws:iam::123456789012:root"]
}

run "one_function_per_entry_point_each_with_a_dead_letter_queue" {
  command = apply

  assert {
    condition     = toset(keys(local.catalogue)) == toset(["api", "forwarder", "payments", "notifications", "webhooks", "images-queue", "images", "expiry", "indexer", "gateway-webhooks"])
    error_message = "The catalogue names the ten functions of docker/functions.json (the gateway simulator's deliverer with the simulator, the default)."
  }

  assert {
    condition     = length(distinct([for spec in values(local.catalogue) : spec.handler])) == length(local.catalogue) && alltrue([for spec in values(local.catalogue) : contains(["api", "workers", "indexer"], spec.image)])
    error_message = "Every function has a handler of its own, in one of the three images."
  }

  assert {
    condition = jsonencode(local.queue_consumers) == jsonencode({
      images        = "images-queue"
      notifications = "notifications"
      payments      = "payments"
      webhooks      = "webhooks"
    })
    error_message = "Each work queue of workers/queues.py is drained by its function."
  }

  assert {
    condition = jsonencode({ for name, f in local.functions : name => f.dead_letter_arn }) == jsonencode({
      api                = module.queues.failure_arns["api"]
      forwarder          = module.queues.failure_arns["forwarder"]
      payments           = module.queues.dlq_arns["payments"]
      notifications      = module.queues.dlq_arns["notifications"]
      webhooks           = module.queues.dlq_arns["webhooks"]
      "images-queue"     = module.queues.dlq_arns["images"]
      images             = module.queues.failure_arns["images"]
      expiry             = module.queues.failure_arns["expiry"]
      indexer            = module.queues.failure_arns["indexer"]
      "gateway-webhooks" = module.queues.failure_arns["gateway-webhooks"]
    })
    error_message = "A queue's consumer parks in its queue's DLQ; every other function has a failure queue of its own."
  }

  assert {
    condition     = alltrue([for name, f in local.functions : f.role_arn == module.iam.role_arns[name]])
    error_message = "Every function runs with its own role."
  }

  assert {
    condition = alltrue([for name, f in local.functions :
      f.memory_mb == var.function_settings[name].memory_mb && f.timeout_seconds == var.function_settings[name].timeout_seconds && f.reserved_concurrency == var.function_settings[name].reserved_concurrency
      if name != "gateway-webhooks"
    ])
    error_message = "Memory, timeout and reserved concurrency are the stage's function_settings."
  }

  assert {
    condition     = local.functions["gateway-webhooks"].timeout_seconds == 60 && local.functions["gateway-webhooks"].reserved_concurrency == 1
    error_message = "Without settings of its own, the simulator's deliverer runs one at a time for the schedule's minute."
  }

  assert {
    condition = alltrue([for name, f in local.functions :
      f.image_uri == "${module.ecr.repository_urls[local.catalogue[name].image]}:abc123" && f.command == [local.catalogue[name].handler]
    ])
    error_message = "Every function runs its image from the stage's ECR, tagged image_tag, with its handler."
  }
}

run "an_image_tag_override_pins_one_function" {
  command = apply

  variables {
    image_tag_overrides = { indexer = "old456" }
  }

  assert {
    condition     = endswith(local.functions["indexer"].image_uri, ":old456") && endswith(local.functions["api"].image_uri, ":abc123")
    error_message = "image_tag_overrides pins the named function only."
  }
}

run "every_function_runs_the_aws_runtime_with_what_its_role_may_use" {
  command = apply

  assert {
    condition = alltrue([for env in values(local.environments) :
      env.CONCERTBOOK_RUNTIME == "aws" && env.CONCERTBOOK_TABLE_NAME == "concertbook-dev" && env.CONCERTBOOK_AWS_REGION == "ap-northeast-2"
    ]) && toset(keys(local.environments)) == toset(keys(local.catalogue))
    error_message = "Every function runs the aws runtime on the stage's table, in its region."
  }

  assert {
    condition = jsonencode({ for name, env in local.environments : name => sort([for k in keys(env) : k if startswith(k, "CONCERTBOOK_QUEUE_URL_")]) }) == jsonencode({
      api                = ["CONCERTBOOK_QUEUE_URL_WEBHOOKS"]
      forwarder          = ["CONCERTBOOK_QUEUE_URL_IMAGES", "CONCERTBOOK_QUEUE_URL_NOTIFICATIONS", "CONCERTBOOK_QUEUE_URL_PAYMENTS"]
      payments           = []
      notifications      = []
      webhooks           = []
      "images-queue"     = []
      images             = []
      expiry             = []
      indexer            = []
      "gateway-webhooks" = []
    }) && local.environments["forwarder"].CONCERTBOOK_QUEUE_URL_PAYMENTS == module.queues.urls["payments"] && local.environments["api"].CONCERTBOOK_QUEUE_URL_WEBHOOKS == module.queues.urls["webhooks"]
    error_message = "Queue URLs only where the role may send (modules/iam: the API to webhooks, the forwarder to the outbox queues)."
  }

  # Each variable below needs a grant that modules/iam/tests/iam.tftest.hcl pins to the
  # same functions: the secrets, search, media, mail, Redis (elasticache:Connect).
  assert {
    condition = jsonencode({ for variable in [
      "CONCERTBOOK_WEBHOOK_SECRET_ARN", "CONCERTBOOK_TICKET_SIGNING_KEY_ARN", "CONCERTBOOK_OPENSEARCH_URL",
      "CONCERTBOOK_MEDIA_BUCKET", "CONCERTBOOK_MAIL_FROM", "CONCERTBOOK_REDIS_URL", "CONCERTBOOK_REDIS_IAM_CACHE",
      ] : variable => sort([for name, env in local.environments : name if contains(keys(env), variable)]) }) == jsonencode({
      CONCERTBOOK_WEBHOOK_SECRET_ARN     = ["api", "gateway-webhooks"]
      CONCERTBOOK_TICKET_SIGNING_KEY_ARN = ["api", "payments"]
      CONCERTBOOK_OPENSEARCH_URL         = ["api", "indexer"]
      CONCERTBOOK_MEDIA_BUCKET           = ["api", "images", "images-queue"]
      CONCERTBOOK_MAIL_FROM              = ["notifications"]
      CONCERTBOOK_REDIS_URL              = ["api", "expiry", "payments", "webhooks"]
      CONCERTBOOK_REDIS_IAM_CACHE        = ["api", "expiry", "payments", "webhooks"]
    })
    error_message = "A function is given a secret, search, media, mail or Redis that its role may not use."
  }

  assert {
    condition = alltrue([for name in values(local.queue_consumers) :
      local.environments[name].CONCERTBOOK_QUEUE_MAX_ATTEMPTS == tostring(var.queue_max_attempts)
    ])
    error_message = "Every queue consumer parks a message after CONCERTBOOK_QUEUE_MAX_ATTEMPTS (the redrive allows one more)."
  }

  assert {
    condition     = local.environments["notifications"].CONCERTBOOK_MAIL_FROM == "K-ConcertBook <tickets@dev.concertbook.example>" && local.ses_identity_arn == "arn:aws:ses:ap-northeast-2:123456789012:identity/dev.concertbook.example"
    error_message = "The mail goes out as the stage's sender through its SES identity."
  }
}

run "the_gateway_simulators_webhooks_go_to_the_api_every_minute" {
  command = apply

  assert {
    condition     = local.environments["gateway-webhooks"].CONCERTBOOK_PUBLIC_URL == module.api.url && local.environments["gateway-webhooks"].CONCERTBOOK_WEBHOOK_SECRET_ARN == module.secrets.webhook_secret_arn
    error_message = "The deliverer signs with the stage's webhook secret and posts to the stage's API."
  }

  assert {
    condition     = module.functions.function_names["gateway-webhooks"] == "concertbook-dev-gateway-webhooks" && length([for k in keys(local.environments["api"]) : k if startswith(k, "CONCERTBOOK_PAYMENT_PROVIDER") || startswith(k, "CONCERTBOOK_TOSS_")]) == 0
    error_message = "The simulator is the default: no provider variables, and the deliverer is deployed."
  }

  assert {
    condition     = local.scheduled_functions == ["expiry", "gateway-webhooks"]
    error_message = "The expiry sweep and the simulator's deliverer run on the one-minute schedule, without retries."
  }
}

run "toss_payments_replaces_the_simulator" {
  command = apply

  variables {
    payment_provider = "toss"
  }

  assert {
    condition     = !contains(keys(local.catalogue), "gateway-webhooks") && local.scheduled_functions == ["expiry"] && !contains(local.failure_queue_functions, "gateway-webhooks")
    error_message = "With Toss Payments, the simulator's deliverer, its schedule and its failure queue are gone."
  }

  assert {
    condition = jsonencode({ for name, env in local.environments : name => env.CONCERTBOOK_PAYMENT_PROVIDER if contains(keys(env), "CONCERTBOOK_PAYMENT_PROVIDER") }) == jsonencode({
      api      = "toss"
      payments = "toss"
      webhooks = "toss"
    })
    error_message = "The functions that call the provider (authorize, capture and refund, apply webhooks) all name Toss; no other does."
  }

  assert {
    condition = alltrue([for name in ["api", "payments", "webhooks"] :
      local.environments[name].CONCERTBOOK_TOSS_SECRET_KEY_ARN == module.secrets.toss_secret_key_arn && local.environments[name].CONCERTBOOK_TOSS_SECURITY_KEY_ARN == module.secrets.toss_security_key_arn && !contains(keys(local.environments[name]), "CONCERTBOOK_TOSS_API_URL")
    ])
    error_message = "Each gets the Toss keys from the stage's secrets, never a value, and Toss's API at the address the code knows (booking/settings.py)."
  }
}

run "an_unknown_payment_provider_is_refused" {
  command = plan

  variables {
    payment_provider = "paypal"
  }

  expect_failures = [var.payment_provider]
}

run "the_stage_outputs_what_its_deployers_need" {
  command = apply

  assert {
    condition     = output.table_name == "concertbook-dev" && output.api_url == module.api.url && output.cdn_domain_name == module.media.cdn_domain_name
    error_message = "The stage outputs the API URL, the CDN domain and the table name."
  }

  assert {
    condition     = var.stream_batch_size >= 50 && var.stream_batch_size <= 500
    error_message = "Stream batches of about 100 records (docs/PERFORMANCE.md: ~100 docs/s one by one, ~1,600 in batches of 100-500)."
  }
}

run "a_stage_without_settings_for_every_function_is_refused" {
  command = plan

  variables {
    function_settings = {
      api = { memory_mb = 1024, timeout_seconds = 29, reserved_concurrency = 20 }
    }
  }

  expect_failures = [var.function_settings]
}

run "an_api_timeout_beyond_api_gateways_is_refused" {
  command = plan

  variables {
    function_settings = merge(var.function_settings, { api = { memory_mb = 1024, timeout_seconds = 31, reserved_concurrency = 20 } })
  }

  expect_failures = [var.function_settings]
}

run "more_queue_pollers_than_the_consumer_may_run_are_refused" {
  command = plan

  variables {
    queue_maximum_concurrency = { payments = 10, notifications = 2, webhooks = 4, images = 2 }
  }

  expect_failures = [var.queue_maximum_concurrency]
}

run "the_latest_tag_is_refused" {
  command = plan

  variables {
    image_tag = "latest"
  }

  expect_failures = [var.image_tag]
}

run "an_override_for_no_function_is_refused" {
  command = plan

  variables {
    image_tag_overrides = { refunds = "abc123" }
  }

  expect_failures = [var.image_tag_overrides]
}

run "one_zone_is_refused" {
  command = plan

  variables {
    availability_zone_ids = ["apne2-az1"]
  }

  expect_failures = [var.availability_zone_ids]
}

run "plain_http_or_wildcard_origins_are_refused" {
  command = plan

  variables {
    web_origins = ["http://concertbook.example", "*"]
  }

  expect_failures = [var.web_origins]
}

run "an_unknown_stage_is_refused" {
  command = plan

  variables {
    stage = "staging"
  }

  expect_failures = [var.stage]
}
