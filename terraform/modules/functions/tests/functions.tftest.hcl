# The functions module's contracts: every Lambda a container image in the VPC with a
# dead-letter queue, traced, logging JSON to a log group with retention, its environment
# encrypted, invoked through its `live` alias; the queue and stream mappings report
# partial batch failures, the stream ones bisect, retry a bounded number of times and
# send what is left to an on-failure queue; only OUTBOX# inserts reach them.

mock_provider "aws" {
  source = "../../tests/aws"
}

# Each alias its own ARN, so a trigger that invokes the wrong function shows.
override_resource {
  target = aws_lambda_alias.live["api"]
  values = {
    arn        = "arn:aws:lambda:ap-northeast-2:123456789012:function:cb-test-api:live"
    invoke_arn = "arn:aws:apigateway:ap-northeast-2:lambda:path/2015-03-31/functions/arn:aws:lambda:ap-northeast-2:123456789012:function:cb-test-api:live/invocations"
  }
}

override_resource {
  target = aws_lambda_alias.live["payments"]
  values = { arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:cb-test-payments:live" }
}

override_resource {
  target = aws_lambda_alias.live["forwarder"]
  values = { arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:cb-test-forwarder:live" }
}

override_resource {
  target = aws_lambda_alias.live["indexer"]
  values = { arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:cb-test-indexer:live" }
}

override_resource {
  target = aws_lambda_alias.live["expiry"]
  values = { arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:cb-test-expiry:live" }
}

override_resource {
  target = aws_lambda_alias.live["images"]
  values = { arn = "arn:aws:lambda:ap-northeast-2:123456789012:function:cb-test-images:live" }
}

variables {
  name_prefix = "cb-test"
  functions = {
    api = {
      description             = "HTTP API"
      image_uri               = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/concertbook-api:abc123"
      command                 = ["api.lambda_handler.handler"]
      memory_mb               = 1024
      timeout_seconds         = 29
      reserved_concurrency    = 20
      provisioned_concurrency = 5
      role_arn                = "arn:aws:iam::123456789012:role/cb-test-fn-api"
      dead_letter_arn         = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-api-failures"
    }
    payments = {
      description          = "SQS payments"
      image_uri            = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/concertbook-workers:abc123"
      command              = ["workers.queues.payments_handler"]
      memory_mb            = 512
      timeout_seconds      = 30
      reserved_concurrency = 4
      role_arn             = "arn:aws:iam::123456789012:role/cb-test-fn-payments"
      dead_letter_arn      = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-payments-dlq"
    }
    forwarder = {
      description          = "Stream to queues"
      image_uri            = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/concertbook-workers:abc123"
      command              = ["workers.forwarder.handler"]
      memory_mb            = 512
      timeout_seconds      = 60
      reserved_concurrency = 4
      role_arn             = "arn:aws:iam::123456789012:role/cb-test-fn-forwarder"
      dead_letter_arn      = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-forwarder-failures"
    }
    indexer = {
      description          = "Stream to search"
      image_uri            = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/concertbook-indexer:abc123"
      command              = ["indexer.lambda_handler.handler"]
      memory_mb            = 1024
      timeout_seconds      = 60
      reserved_concurrency = 4
      role_arn             = "arn:aws:iam::123456789012:role/cb-test-fn-indexer"
      dead_letter_arn      = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-indexer-failures"
    }
    expiry = {
      description          = "Expiry sweep"
      image_uri            = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/concertbook-workers:abc123"
      command              = ["workers.expiry.handler"]
      memory_mb            = 512
      timeout_seconds      = 60
      reserved_concurrency = 2
      role_arn             = "arn:aws:iam::123456789012:role/cb-test-fn-expiry"
      dead_letter_arn      = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-expiry-failures"
    }
    images = {
      description          = "S3 uploads"
      image_uri            = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com/concertbook-workers:abc123"
      command              = ["workers.images.handler"]
      memory_mb            = 2048
      timeout_seconds      = 60
      reserved_concurrency = 2
      role_arn             = "arn:aws:iam::123456789012:role/cb-test-fn-images"
      dead_letter_arn      = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-images-failures"
    }
  }
  environments = {
    api       = { CONCERTBOOK_RUNTIME = "aws", CONCERTBOOK_TABLE_NAME = "cb-test" }
    payments  = { CONCERTBOOK_RUNTIME = "aws", CONCERTBOOK_QUEUE_MAX_ATTEMPTS = "5" }
    forwarder = { CONCERTBOOK_RUNTIME = "aws" }
    indexer   = { CONCERTBOOK_RUNTIME = "aws" }
    expiry    = { CONCERTBOOK_RUNTIME = "aws" }
    images    = { CONCERTBOOK_RUNTIME = "aws" }
  }
  subnet_ids         = ["subnet-private-a", "subnet-private-b"]
  security_group_id  = "sg-lambda"
  kms_key_arn        = "arn:aws:kms:ap-northeast-2:123456789012:key/data"
  logs_kms_key_arn   = "arn:aws:kms:ap-northeast-2:123456789012:key/logs"
  log_retention_days = 14
  stream_arn         = "arn:aws:dynamodb:ap-northeast-2:123456789012:table/cb-test/stream/2025-01-01T00:00:00.000"
  queue_triggers = {
    payments = {
      function                = "payments"
      queue_arn               = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-payments"
      batch_size              = 10
      batching_window_seconds = 0
      maximum_concurrency     = 4
    }
  }
  stream_triggers = {
    forwarder = {
      batch_size                 = 100
      batching_window_seconds    = 1
      parallelization_factor     = 2
      maximum_retry_attempts     = 10
      maximum_record_age_seconds = -1
      on_failure_arn             = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-forwarder-failures"
    }
    indexer = {
      batch_size                 = 100
      batching_window_seconds    = 1
      parallelization_factor     = 2
      maximum_retry_attempts     = 10
      maximum_record_age_seconds = -1
      on_failure_arn             = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-indexer-failures"
    }
  }
  schedules = { expiry = "rate(1 minute)" }
  async_invocations = {
    expiry = { maximum_retry_attempts = 0, maximum_event_age_seconds = 60 }
    images = { maximum_retry_attempts = 2, maximum_event_age_seconds = 3600 }
  }
  upload_trigger = {
    function   = "images"
    bucket_id  = "cb-test-media"
    bucket_arn = "arn:aws:s3:::cb-test-media"
    prefix     = "uploads/"
  }
}

run "every_function_is_an_image_in_the_vpc_with_a_dead_letter_queue" {
  command = apply

  assert {
    condition     = sort(keys(aws_lambda_function.this)) == sort(keys(var.functions))
    error_message = "One Lambda per function."
  }

  assert {
    condition = alltrue([for name, f in aws_lambda_function.this :
      f.package_type == "Image" && f.image_uri == var.functions[name].image_uri && f.image_config[0].command == var.functions[name].command
    ])
    error_message = "Every function runs its container image with its handler as the command."
  }

  assert {
    condition = alltrue([for name, f in aws_lambda_function.this :
      f.memory_size == var.functions[name].memory_mb && f.timeout == var.functions[name].timeout_seconds && f.reserved_concurrent_executions == var.functions[name].reserved_concurrency
    ])
    error_message = "Memory, timeout and reserved concurrency come from each function's settings."
  }

  assert {
    condition = alltrue([for f in aws_lambda_function.this :
      length(f.vpc_config) == 1 && f.vpc_config[0].subnet_ids == toset(var.subnet_ids) && f.vpc_config[0].security_group_ids == toset([var.security_group_id])
    ])
    error_message = "Every function runs in the given (private) subnets, in the Lambdas' security group only."
  }

  assert {
    condition = alltrue([for name, f in aws_lambda_function.this :
      length(f.dead_letter_config) == 1 && f.dead_letter_config[0].target_arn == var.functions[name].dead_letter_arn
    ])
    error_message = "Every function sends failed asynchronous invocations to its dead-letter queue."
  }

  assert {
    condition     = alltrue([for f in aws_lambda_function.this : f.tracing_config[0].mode == "Active"])
    error_message = "Every function is traced (X-Ray active)."
  }

  assert {
    condition = alltrue([for name, f in aws_lambda_function.this :
      f.logging_config[0].log_format == "JSON" && f.logging_config[0].log_group == aws_cloudwatch_log_group.function[name].name
    ])
    error_message = "Every function logs JSON to its own log group."
  }

  assert {
    condition = alltrue([for g in aws_cloudwatch_log_group.function :
      g.retention_in_days == var.log_retention_days && g.kms_key_id == var.logs_kms_key_arn
    ])
    error_message = "Every function's log group has a retention and is encrypted with the logs key."
  }

  assert {
    condition = alltrue([for name, f in aws_lambda_function.this :
      f.kms_key_arn == var.kms_key_arn && f.environment[0].variables == var.environments[name]
    ])
    error_message = "Every function gets its own environment, encrypted with the data key."
  }

  assert {
    condition = alltrue([for name, a in aws_lambda_alias.live :
      a.name == "live" && a.function_version == aws_lambda_function.this[name].version
    ]) && alltrue([for f in aws_lambda_function.this : f.publish])
    error_message = "Every apply publishes a version and points the live alias at it."
  }

  assert {
    condition = keys(aws_lambda_provisioned_concurrency_config.this) == ["api"] && alltrue([for name, p in aws_lambda_provisioned_concurrency_config.this :
      p.qualifier == "live" && p.provisioned_concurrent_executions == var.functions[name].provisioned_concurrency
    ])
    error_message = "Provisioned concurrency only where it is above zero, on the live alias."
  }
}

run "queue_mappings_report_partial_failures_with_capped_concurrency" {
  command = apply

  assert {
    condition     = sort(keys(aws_lambda_event_source_mapping.queue)) == sort(keys(var.queue_triggers))
    error_message = "One mapping per queue trigger."
  }

  assert {
    condition = alltrue([for queue, m in aws_lambda_event_source_mapping.queue :
      m.event_source_arn == var.queue_triggers[queue].queue_arn && m.function_name == aws_lambda_alias.live[var.queue_triggers[queue].function].arn
    ])
    error_message = "Each queue invokes its consumer's live alias."
  }

  assert {
    condition = alltrue([for queue, m in aws_lambda_event_source_mapping.queue :
      m.function_response_types == toset(["ReportBatchItemFailures"]) && m.batch_size == var.queue_triggers[queue].batch_size && m.scaling_config[0].maximum_concurrency == var.queue_triggers[queue].maximum_concurrency
    ])
    error_message = "SQS mappings report batch item failures, with their batch size and maximum concurrency."
  }
}

run "stream_mappings_take_outbox_inserts_bisect_and_send_failures_on" {
  command = apply

  assert {
    condition     = keys(aws_lambda_event_source_mapping.stream) == ["forwarder", "indexer"]
    error_message = "The forwarder and the indexer read the stream."
  }

  assert {
    condition = alltrue([for fn, m in aws_lambda_event_source_mapping.stream :
      m.event_source_arn == var.stream_arn && m.function_name == aws_lambda_alias.live[fn].arn && m.starting_position == "TRIM_HORIZON"
    ])
    error_message = "Each stream reader's live alias reads the table's stream from its oldest record."
  }

  assert {
    condition = alltrue([for fn, m in aws_lambda_event_source_mapping.stream :
      m.bisect_batch_on_function_error && m.maximum_retry_attempts == var.stream_triggers[fn].maximum_retry_attempts && m.maximum_retry_attempts >= 0 && m.function_response_types == toset(["ReportBatchItemFailures"])
    ])
    error_message = "Stream mappings bisect failing batches, retry a bounded number of times and report batch item failures."
  }

  assert {
    condition = alltrue([for fn, m in aws_lambda_event_source_mapping.stream :
      m.destination_config[0].on_failure[0].destination_arn == var.stream_triggers[fn].on_failure_arn
    ])
    error_message = "What a stream mapping gives up on goes to its on-failure queue."
  }

  assert {
    condition = alltrue([for m in aws_lambda_event_source_mapping.stream :
      [for f in m.filter_criteria[0].filter : jsondecode(f.pattern)] == [{ eventName = ["INSERT"], dynamodb = { Keys = { pk = { S = [{ prefix = "OUTBOX#" }] } } } }]
    ])
    error_message = "Only OUTBOX# inserts invoke the stream readers."
  }
}

run "the_schedule_and_the_uploads_invoke_their_aliases" {
  command = apply

  assert {
    condition     = aws_cloudwatch_event_target.schedule["expiry"].arn == aws_lambda_alias.live["expiry"].arn && aws_cloudwatch_event_rule.schedule["expiry"].schedule_expression == "rate(1 minute)"
    error_message = "The expiry sweep's schedule invokes its live alias every minute."
  }

  assert {
    condition = (
      aws_lambda_permission.schedule["expiry"].principal == "events.amazonaws.com" &&
      aws_lambda_permission.schedule["expiry"].source_arn == aws_cloudwatch_event_rule.schedule["expiry"].arn &&
      aws_lambda_permission.schedule["expiry"].source_account == "123456789012" &&
      aws_lambda_permission.schedule["expiry"].qualifier == "live"
    )
    error_message = "Only the expiry rule of this account may invoke the expiry alias."
  }

  assert {
    condition = (
      aws_lambda_permission.uploads.principal == "s3.amazonaws.com" &&
      aws_lambda_permission.uploads.source_arn == var.upload_trigger.bucket_arn &&
      aws_lambda_permission.uploads.source_account == "123456789012" &&
      aws_lambda_permission.uploads.qualifier == "live"
    )
    error_message = "Only the media bucket of this account may invoke the upload worker's alias."
  }

  assert {
    condition = (
      aws_s3_bucket_notification.uploads.bucket == var.upload_trigger.bucket_id &&
      one(aws_s3_bucket_notification.uploads.lambda_function).lambda_function_arn == aws_lambda_alias.live["images"].arn &&
      one(aws_s3_bucket_notification.uploads.lambda_function).filter_prefix == "uploads/" &&
      one(aws_s3_bucket_notification.uploads.lambda_function).events == toset(["s3:ObjectCreated:*"])
    )
    error_message = "New objects under uploads/ invoke the upload worker's alias."
  }

  assert {
    condition     = aws_lambda_function_event_invoke_config.this["expiry"].maximum_retry_attempts == 0 && aws_lambda_function_event_invoke_config.this["images"].maximum_retry_attempts == 2
    error_message = "Asynchronous invocations retry as configured."
  }
}

run "a_third_stream_reader_is_refused" {
  command = plan

  variables {
    stream_triggers = {
      forwarder = { batch_size = 100, batching_window_seconds = 1, parallelization_factor = 1, maximum_retry_attempts = 10, maximum_record_age_seconds = -1, on_failure_arn = "arn:aws:sqs:ap-northeast-2:123456789012:a" }
      indexer   = { batch_size = 100, batching_window_seconds = 1, parallelization_factor = 1, maximum_retry_attempts = 10, maximum_record_age_seconds = -1, on_failure_arn = "arn:aws:sqs:ap-northeast-2:123456789012:b" }
      api       = { batch_size = 100, batching_window_seconds = 1, parallelization_factor = 1, maximum_retry_attempts = 10, maximum_record_age_seconds = -1, on_failure_arn = "arn:aws:sqs:ap-northeast-2:123456789012:c" }
    }
  }

  expect_failures = [var.stream_triggers]
}

run "a_stream_mapping_that_retries_forever_is_refused" {
  command = plan

  variables {
    stream_triggers = {
      forwarder = { batch_size = 100, batching_window_seconds = 1, parallelization_factor = 1, maximum_retry_attempts = -1, maximum_record_age_seconds = -1, on_failure_arn = "arn:aws:sqs:ap-northeast-2:123456789012:a" }
    }
  }

  expect_failures = [var.stream_triggers]
}

run "functions_in_one_subnet_are_refused" {
  command = plan

  variables {
    subnet_ids = ["subnet-private-a"]
  }

  expect_failures = [var.subnet_ids]
}

run "a_function_without_reserved_concurrency_is_refused" {
  command = plan

  variables {
    functions = merge(var.functions, {
      expiry = merge(var.functions["expiry"], { reserved_concurrency = 0 })
    })
  }

  expect_failures = [var.functions]
}

run "a_command_that_is_not_one_handler_is_refused" {
  command = plan

  variables {
    functions = merge(var.functions, {
      expiry = merge(var.functions["expiry"], { command = ["python", "-m", "workers.expiry"] })
    })
  }

  expect_failures = [var.functions]
}
