# The work queues of docs/ARCHITECTURE.md ("Queues") and the functions' failure queues.
#
# Work queue (standard; consumers are idempotent) → its Lambda, with a dead-letter queue:
#   visibility timeout = 6 × the consumer's function timeout (AWS's advice for Lambda
#     event sources: room for retries of a throttled batch before messages reappear)
#   redrive maxReceiveCount = CONCERTBOOK_QUEUE_MAX_ATTEMPTS + 1: the consumer parks a
#     message in the DLQ itself, with its reason, at the last attempt; the redrive policy
#     is the backstop for a consumer that died before it could
#   DLQ retention 14 days (SQS's maximum); each DLQ accepts messages only from its queue
#
# Failure queues take what functions without a work queue could not do: the stream
# mappings' on-failure records (forwarder, indexer) and failed asynchronous invocations
# (S3 uploads, the expiry schedule, and any asynchronous invocation of the API).
#
# Everything is encrypted with the data key (SSE-KMS).

locals {
  fourteen_days = 1209600
}

resource "aws_sqs_queue" "dlq" {
  for_each                          = var.consumers
  name                              = "${var.name_prefix}-${each.key}-dlq"
  message_retention_seconds         = local.fourteen_days
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
}

resource "aws_sqs_queue" "work" {
  for_each                          = var.consumers
  name                              = "${var.name_prefix}-${each.key}"
  visibility_timeout_seconds        = 6 * each.value.timeout_seconds
  message_retention_seconds         = var.retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = var.max_attempts + 1
  })
}

resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each  = var.redrive_allow ? var.consumers : {}
  queue_url = aws_sqs_queue.dlq[each.key].id

  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.work[each.key].arn]
  })
}

resource "aws_sqs_queue" "failures" {
  for_each                          = var.failure_queues
  name                              = "${var.name_prefix}-${each.key}-failures"
  message_retention_seconds         = local.fourteen_days
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
}
