# The functions: one container-image Lambda per entry point (the image's entrypoint
# serves the handler named in `image_config.command`; docker/functions.json), each with
#   - the stage's private subnets and the Lambdas' security group (vpc_config)
#   - a dead-letter queue for asynchronous invocations (dead_letter_config); functions
#     fed by a queue use that queue's DLQ, stream functions their on-failure queue
#   - active X-Ray tracing, JSON logs in a log group with retention, reserved concurrency
#   - its CONCERTBOOK_* environment, encrypted with the data key
#   - a `live` alias on the version each apply publishes: every trigger invokes the alias,
#     so `aws lambda update-alias` rolls a function back at once (docs/DEPLOY.md)
# and its triggers:
#   - SQS event source mappings, ReportBatchItemFailures (workers/sqs.LambdaBatch answers
#     with the failed message ids), a batch size and a maximum concurrency per queue
#   - DynamoDB stream mappings for the forwarder and the indexer: OUTBOX# inserts only,
#     ReportBatchItemFailures (both answer with the SequenceNumber to retry from),
#     bisect on error, bounded retries, then an on-failure record in an SQS queue.
#     A stream shard serves two readers at most: these are the two.
#   - the EventBridge schedule of the expiry sweep (every minute)
#   - the media bucket's ObjectCreated events under uploads/ for the S3 upload worker

data "aws_caller_identity" "current" {}

locals {
  alias = "live"
  # Only outbox items that were just written: the forwarder's deletes and every other
  # item of the table never invoke these functions.
  outbox_inserts = jsonencode({
    eventName = ["INSERT"]
    dynamodb = {
      Keys = {
        pk = { S = [{ prefix = "OUTBOX#" }] }
      }
    }
  })
}

resource "aws_cloudwatch_log_group" "function" {
  for_each          = var.functions
  name              = "/aws/lambda/${var.name_prefix}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

resource "aws_lambda_function" "this" {
  for_each                       = var.functions
  function_name                  = "${var.name_prefix}-${each.key}"
  description                    = each.value.description
  role                           = each.value.role_arn
  package_type                   = "Image"
  image_uri                      = each.value.image_uri
  architectures                  = [var.architecture]
  memory_size                    = each.value.memory_mb
  timeout                        = each.value.timeout_seconds
  reserved_concurrent_executions = each.value.reserved_concurrency
  publish                        = true
  kms_key_arn                    = var.kms_key_arn

  image_config {
    command = each.value.command
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [var.security_group_id]
  }

  dead_letter_config {
    target_arn = each.value.dead_letter_arn
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.function[each.key].name
    application_log_level = "INFO"
    system_log_level      = "WARN"
  }

  environment {
    variables = var.environments[each.key]
  }
}

resource "aws_lambda_alias" "live" {
  for_each         = var.functions
  name             = local.alias
  function_name    = aws_lambda_function.this[each.key].function_name
  function_version = aws_lambda_function.this[each.key].version
}

resource "aws_lambda_provisioned_concurrency_config" "this" {
  for_each                          = { for name, f in var.functions : name => f if f.provisioned_concurrency > 0 }
  function_name                     = aws_lambda_function.this[each.key].function_name
  qualifier                         = aws_lambda_alias.live[each.key].name
  provisioned_concurrent_executions = each.value.provisioned_concurrency
}

# -- SQS ------------------------------------------------------------------------------------
resource "aws_lambda_event_source_mapping" "queue" {
  for_each                           = var.queue_triggers
  event_source_arn                   = each.value.queue_arn
  function_name                      = aws_lambda_alias.live[each.value.function].arn
  batch_size                         = each.value.batch_size
  maximum_batching_window_in_seconds = each.value.batching_window_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = each.value.maximum_concurrency
  }
}

# -- DynamoDB stream ---------------------------------------------------------------------
resource "aws_lambda_event_source_mapping" "stream" {
  for_each                           = var.stream_triggers
  event_source_arn                   = var.stream_arn
  function_name                      = aws_lambda_alias.live[each.key].arn
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = each.value.batch_size
  maximum_batching_window_in_seconds = each.value.batching_window_seconds
  parallelization_factor             = each.value.parallelization_factor
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = each.value.maximum_retry_attempts
  maximum_record_age_in_seconds      = each.value.maximum_record_age_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = each.value.on_failure_arn
    }
  }

  filter_criteria {
    filter {
      pattern = local.outbox_inserts
    }
  }
}

# -- asynchronous invocations (schedule, S3) ----------------------------------------------
resource "aws_lambda_function_event_invoke_config" "this" {
  for_each                     = var.async_invocations
  function_name                = aws_lambda_function.this[each.key].function_name
  qualifier                    = aws_lambda_alias.live[each.key].name
  maximum_retry_attempts       = each.value.maximum_retry_attempts
  maximum_event_age_in_seconds = each.value.maximum_event_age_seconds
}

resource "aws_cloudwatch_event_rule" "schedule" {
  for_each            = var.schedules
  name                = "${var.name_prefix}-${each.key}"
  description         = "Invokes the ${each.key} function (${each.value})"
  schedule_expression = each.value
}

resource "aws_cloudwatch_event_target" "schedule" {
  for_each = var.schedules
  rule     = aws_cloudwatch_event_rule.schedule[each.key].name
  arn      = aws_lambda_alias.live[each.key].arn
}

resource "aws_lambda_permission" "schedule" {
  for_each       = var.schedules
  statement_id   = "AllowEventBridgeSchedule"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this[each.key].function_name
  qualifier      = aws_lambda_alias.live[each.key].name
  principal      = "events.amazonaws.com"
  source_arn     = aws_cloudwatch_event_rule.schedule[each.key].arn
  source_account = data.aws_caller_identity.current.account_id
}

resource "aws_lambda_permission" "uploads" {
  statement_id   = "AllowMediaBucketUploads"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this[var.upload_trigger.function].function_name
  qualifier      = aws_lambda_alias.live[var.upload_trigger.function].name
  principal      = "s3.amazonaws.com"
  source_arn     = var.upload_trigger.bucket_arn
  source_account = data.aws_caller_identity.current.account_id
}

resource "aws_s3_bucket_notification" "uploads" {
  bucket = var.upload_trigger.bucket_id

  lambda_function {
    lambda_function_arn = aws_lambda_alias.live[var.upload_trigger.function].arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = var.upload_trigger.prefix
  }

  depends_on = [aws_lambda_permission.uploads]
}
