# The queues of docs/ARCHITECTURE.md: every work queue encrypted, redriven to its own
# dead-letter queue after CONCERTBOOK_QUEUE_MAX_ATTEMPTS + 1 receives, hidden for six times
# its consumer's timeout; dead-letter and failure queues encrypted, keeping 14 days.

mock_provider "aws" {
  source = "../../tests/aws"
}

# Each dead-letter queue its own ARN, so a redrive to the wrong one shows.
override_resource {
  target = aws_sqs_queue.dlq["payments"]
  values = { arn = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-payments-dlq" }
}

override_resource {
  target = aws_sqs_queue.dlq["images"]
  values = { arn = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-images-dlq" }
}

override_resource {
  target = aws_sqs_queue.work["payments"]
  values = { arn = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-payments" }
}

override_resource {
  target = aws_sqs_queue.work["images"]
  values = { arn = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-images" }
}

variables {
  name_prefix    = "cb-test"
  kms_key_arn    = "arn:aws:kms:ap-northeast-2:123456789012:key/data"
  max_attempts   = 5
  failure_queues = ["api", "forwarder"]
  consumers = {
    payments = { timeout_seconds = 30 }
    images   = { timeout_seconds = 60 }
  }
}

run "work_queues_redrive_to_their_own_dead_letter_queue" {
  command = apply

  assert {
    condition     = toset(keys(aws_sqs_queue.work)) == toset(keys(var.consumers)) && toset(keys(aws_sqs_queue.dlq)) == toset(keys(var.consumers))
    error_message = "A work queue and a dead-letter queue per consumer."
  }

  assert {
    condition = alltrue([for q, queue in aws_sqs_queue.work :
      jsondecode(queue.redrive_policy) == { deadLetterTargetArn = aws_sqs_queue.dlq[q].arn, maxReceiveCount = 6 }
    ])
    error_message = "Each work queue redrives to its own DLQ after max_attempts + 1 receives (the consumer parks at max_attempts)."
  }

  assert {
    condition     = aws_sqs_queue.work["payments"].visibility_timeout_seconds == 180 && aws_sqs_queue.work["images"].visibility_timeout_seconds == 360
    error_message = "A message stays hidden for six times its consumer's timeout."
  }

  assert {
    condition = alltrue([for q, p in aws_sqs_queue_redrive_allow_policy.dlq :
      jsondecode(p.redrive_allow_policy) == { redrivePermission = "byQueue", sourceQueueArns = [aws_sqs_queue.work[q].arn] }
    ])
    error_message = "A dead-letter queue takes messages from its own work queue only."
  }

  assert {
    condition     = alltrue([for queue in aws_sqs_queue.work : queue.receive_wait_time_seconds == 20])
    error_message = "Work queues are long-polled."
  }
}

run "every_queue_is_encrypted_and_the_parked_ones_keep_14_days" {
  command = apply

  assert {
    condition = alltrue([for queue in concat(values(aws_sqs_queue.work), values(aws_sqs_queue.dlq), values(aws_sqs_queue.failures)) :
      queue.kms_master_key_id == var.kms_key_arn
    ])
    error_message = "Every queue is encrypted with the data key."
  }

  assert {
    condition = alltrue([for queue in concat(values(aws_sqs_queue.dlq), values(aws_sqs_queue.failures)) :
      queue.message_retention_seconds == 1209600
    ])
    error_message = "Dead-letter and failure queues keep messages 14 days (SQS's most)."
  }

  assert {
    condition     = toset(keys(aws_sqs_queue.failures)) == var.failure_queues && alltrue([for fn, q in aws_sqs_queue.failures : q.name == "cb-test-${fn}-failures"])
    error_message = "One failure queue per function that has no work queue."
  }
}

run "attempts_beyond_what_sqs_counts_are_refused" {
  command = plan

  variables {
    max_attempts = 1000
  }

  expect_failures = [var.max_attempts]
}

run "a_consumer_without_a_timeout_is_refused" {
  command = plan

  variables {
    consumers = { payments = { timeout_seconds = 0 } }
  }

  expect_failures = [var.consumers]
}
