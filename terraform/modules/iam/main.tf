# One execution role per function, least privilege: every data action names its
# resources (the table and its indexes or stream, the queues the function sends to or
# drains, its own dead-letter or failure queue, prefixes of the media bucket, the two
# secrets, the search domain); no wildcard actions. Lambda's VPC networking (ENIs) and
# log writing come from the AWS-managed AWSLambdaVPCAccessExecutionRole, X-Ray segments
# from AWSXRayDaemonWriteAccess (neither action supports resource-level permissions).
#
# What each function touches, from the code:
#   api            table r/w (incl. BatchWriteItem: seat maps); webhooks queue (send);
#                  media uploads/ (presigned POST) and posters/ (PUT poster, GET media);
#                  both secrets; search (read)
#   forwarder      stream; table DeleteItem (the forwarded outbox item); payments,
#                  notifications, images queues (send)
#   payments       table r/w; its queue and DLQ; ticket signing key
#   notifications  table r/w (MAIL markers); its queue and DLQ; SES SendRawEmail as
#                  CONCERTBOOK_MAIL_FROM only
#   webhooks       table r/w; its queue and DLQ
#   images-queue   table r/w; its queue (images) and DLQ; media posters/ (read original,
#                  write variants)
#   images         table r/w; media uploads/ (read, delete) and posters/ (write)
#   expiry         table r/w
#   indexer        stream; table reads; search (read, write)
#   gateway-webhooks  (only with the gateway simulator) table r/w (its SIMHOOK# items);
#                  the webhook secret it signs with
# plus, for every function, its failure queue (send) when it has one; for api,
# payments, webhooks and expiry elasticache:Connect (the Redis pre-claim's IAM log-in);
# and for api, payments and webhooks the payment provider's keys when it has some
# (Toss Payments: var.payment_provider_secret_arns).

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id

  table_and_indexes = [var.table_arn, "${var.table_arn}/index/*"]
  table_streams     = ["${var.table_arn}/stream/*"]
  media_uploads     = "${var.media_bucket_arn}/uploads/*"
  media_posters     = "${var.media_bucket_arn}/posters/*"

  read_items  = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"]
  write_items = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
  read_stream = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
  consume     = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
  park        = ["sqs:SendMessage", "sqs:GetQueueUrl"]
  search_read = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"]
  search_all  = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete"]

  # The services that use the data key on a function's behalf.
  data_key_services = [for s in ["dynamodb", "sqs", "secretsmanager", "lambda"] : "${s}.${local.region}.amazonaws.com"]

  policies = {
    api            = data.aws_iam_policy_document.api.json
    forwarder      = data.aws_iam_policy_document.forwarder.json
    payments       = data.aws_iam_policy_document.payments.json
    notifications  = data.aws_iam_policy_document.notifications.json
    webhooks       = data.aws_iam_policy_document.webhooks.json
    "images-queue" = data.aws_iam_policy_document.images_queue.json
    images         = data.aws_iam_policy_document.images.json
    expiry         = data.aws_iam_policy_document.expiry.json
    indexer        = data.aws_iam_policy_document.indexer.json
    # Only a stage on the gateway simulator has this function (and its failure queue).
    "gateway-webhooks" = one(data.aws_iam_policy_document.gateway_webhooks[*].json)
  }
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each           = var.functions
  name               = "${var.name_prefix}-fn-${each.key}"
  description        = "Execution role of the ${var.name_prefix} ${each.key} function"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy_attachment" "vpc_access" {
  for_each   = var.functions
  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_iam_role_policy_attachment" "xray" {
  for_each   = var.functions
  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_iam_role_policy" "function" {
  for_each = var.functions
  name     = "${each.key}-least-privilege"
  role     = aws_iam_role.function[each.key].id
  policy   = local.policies[each.key]
}

# -- shared by every function ------------------------------------------------------------
data "aws_iam_policy_document" "common" {
  statement {
    sid       = "DataKeyThroughItsServices"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [var.data_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.data_key_services
    }
  }
}

data "aws_iam_policy_document" "table_rw" {
  source_policy_documents = [data.aws_iam_policy_document.common.json]
  statement {
    sid       = "TableReadWrite"
    actions   = concat(local.read_items, local.write_items)
    resources = local.table_and_indexes
  }
}

# -- per function ---------------------------------------------------------------------------
# The functions that use the Redis pre-claim sign their Redis log-in with their role
# (ElastiCache IAM authentication): Connect on the cache and on its one user.
data "aws_iam_policy_document" "redis_connect" {
  statement {
    sid       = "RedisIamAuthentication"
    actions   = ["elasticache:Connect"]
    resources = [var.cache_arn, var.cache_user_arn]
  }
}

# The payment provider's keys (Toss Payments: its secret key and the key that signs its
# webhooks), for the functions that call it; none with the gateway simulator.
data "aws_iam_policy_document" "payment_provider" {
  dynamic "statement" {
    for_each = length(var.payment_provider_secret_arns) > 0 ? [1] : []
    content {
      sid       = "ReadThePaymentProviderKeys"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = var.payment_provider_secret_arns
    }
  }
}

data "aws_iam_policy_document" "api" {
  source_policy_documents = [data.aws_iam_policy_document.table_rw.json, data.aws_iam_policy_document.redis_connect.json, data.aws_iam_policy_document.payment_provider.json]
  statement {
    sid       = "SeatMapsInBatches"
    actions   = ["dynamodb:BatchWriteItem"]
    resources = [var.table_arn]
  }
  statement {
    sid       = "QueueVerifiedWebhooks"
    actions   = ["sqs:SendMessage"]
    resources = [var.queue_arns["webhooks"]]
  }
  statement {
    sid       = "FailedAsyncInvocations"
    actions   = ["sqs:SendMessage"]
    resources = [var.failure_queue_arns["api"]]
  }
  statement {
    sid       = "PresignUploadsAndStorePosters"
    actions   = ["s3:PutObject"]
    resources = [local.media_uploads, local.media_posters]
  }
  statement {
    sid       = "ServePosters"
    actions   = ["s3:GetObject"]
    resources = [local.media_posters]
  }
  statement {
    sid       = "MediaKeyThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.media_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
  statement {
    sid       = "ReadTheTwoSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.webhook_secret_arn, var.ticket_signing_key_arn]
  }
  statement {
    sid       = "SearchConcerts"
    actions   = local.search_read
    resources = ["${var.opensearch_domain_arn}/*"]
  }
}

data "aws_iam_policy_document" "forwarder" {
  source_policy_documents = [data.aws_iam_policy_document.common.json]
  statement {
    sid       = "ReadTheStream"
    actions   = local.read_stream
    resources = local.table_streams
  }
  statement {
    sid       = "DeleteForwardedOutboxItems"
    actions   = ["dynamodb:DeleteItem"]
    resources = [var.table_arn]
    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["OUTBOX#*"]
    }
  }
  statement {
    sid       = "SendOutboxMessagesToTheirQueues"
    actions   = ["sqs:SendMessage"]
    resources = [var.queue_arns["payments"], var.queue_arns["notifications"], var.queue_arns["images"]]
  }
  statement {
    sid       = "OnFailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [var.failure_queue_arns["forwarder"]]
  }
}

data "aws_iam_policy_document" "payments" {
  source_policy_documents = [data.aws_iam_policy_document.table_rw.json, data.aws_iam_policy_document.redis_connect.json, data.aws_iam_policy_document.payment_provider.json]
  statement {
    sid       = "DrainItsQueue"
    actions   = local.consume
    resources = [var.queue_arns["payments"]]
  }
  statement {
    sid       = "ParkPoisonMessages"
    actions   = local.park
    resources = [var.dlq_arns["payments"]]
  }
  statement {
    sid       = "SignTickets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.ticket_signing_key_arn]
  }
}

data "aws_iam_policy_document" "notifications" {
  source_policy_documents = [data.aws_iam_policy_document.table_rw.json]
  statement {
    sid       = "DrainItsQueue"
    actions   = local.consume
    resources = [var.queue_arns["notifications"]]
  }
  statement {
    sid       = "ParkPoisonMessages"
    actions   = local.park
    resources = [var.dlq_arns["notifications"]]
  }
  statement {
    sid       = "SendConfirmationMailAsTheConfiguredSender"
    actions   = ["ses:SendRawEmail"]
    resources = var.ses_identity_arns
    condition {
      test     = "StringEquals"
      variable = "ses:FromAddress"
      values   = [var.mail_from_address]
    }
  }
}

data "aws_iam_policy_document" "webhooks" {
  source_policy_documents = [data.aws_iam_policy_document.table_rw.json, data.aws_iam_policy_document.redis_connect.json, data.aws_iam_policy_document.payment_provider.json]
  statement {
    sid       = "DrainItsQueue"
    actions   = local.consume
    resources = [var.queue_arns["webhooks"]]
  }
  statement {
    sid       = "ParkPoisonMessages"
    actions   = local.park
    resources = [var.dlq_arns["webhooks"]]
  }
}

data "aws_iam_policy_document" "images_queue" {
  source_policy_documents = [data.aws_iam_policy_document.table_rw.json]
  statement {
    sid       = "DrainItsQueue"
    actions   = local.consume
    resources = [var.queue_arns["images"]]
  }
  statement {
    sid       = "ParkPoisonMessages"
    actions   = local.park
    resources = [var.dlq_arns["images"]]
  }
  statement {
    sid       = "ReadOriginalsWriteVariants"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [local.media_posters]
  }
  statement {
    sid       = "MediaKeyThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.media_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "images" {
  source_policy_documents = [data.aws_iam_policy_document.table_rw.json]
  statement {
    sid       = "ReadAndDeleteUploads"
    actions   = ["s3:GetObject", "s3:DeleteObject"]
    resources = [local.media_uploads]
  }
  statement {
    sid       = "StorePosters"
    actions   = ["s3:PutObject"]
    resources = [local.media_posters]
  }
  statement {
    sid       = "MediaKeyThroughS3"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.media_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.region}.amazonaws.com"]
    }
  }
  statement {
    sid       = "FailedAsyncInvocations"
    actions   = ["sqs:SendMessage"]
    resources = [var.failure_queue_arns["images"]]
  }
}

data "aws_iam_policy_document" "expiry" {
  source_policy_documents = [data.aws_iam_policy_document.table_rw.json, data.aws_iam_policy_document.redis_connect.json]
  statement {
    sid       = "FailedAsyncInvocations"
    actions   = ["sqs:SendMessage"]
    resources = [var.failure_queue_arns["expiry"]]
  }
}

data "aws_iam_policy_document" "gateway_webhooks" {
  count                   = contains(var.functions, "gateway-webhooks") ? 1 : 0
  source_policy_documents = [data.aws_iam_policy_document.table_rw.json]
  statement {
    sid       = "SignTheWebhooks"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.webhook_secret_arn]
  }
  statement {
    sid       = "FailedAsyncInvocations"
    actions   = ["sqs:SendMessage"]
    resources = [var.failure_queue_arns["gateway-webhooks"]]
  }
}

data "aws_iam_policy_document" "indexer" {
  source_policy_documents = [data.aws_iam_policy_document.common.json]
  statement {
    sid       = "ReadTheStream"
    actions   = local.read_stream
    resources = local.table_streams
  }
  statement {
    sid       = "RebuildListingsFromTheTable"
    actions   = local.read_items
    resources = local.table_and_indexes
  }
  statement {
    sid       = "WriteTheSearchIndex"
    actions   = local.search_all
    resources = ["${var.opensearch_domain_arn}/*"]
  }
  statement {
    sid       = "OnFailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [var.failure_queue_arns["indexer"]]
  }
}

# -- the search admin ---------------------------------------------------------------------
# The fine-grained access control master of the OpenSearch domain: operators assume it
# (with MFA) to map the function roles inside OpenSearch and to run `concertbook reindex`.
data "aws_iam_policy_document" "search_admin_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.search_admin_principals
    }
    condition {
      test     = "Bool"
      variable = "aws:MultiFactorAuthPresent"
      values   = ["true"]
    }
  }
}

resource "aws_iam_role" "search_admin" {
  name                 = "${var.name_prefix}-search-admin"
  description          = "Fine-grained access control master of the ${var.name_prefix} search domain"
  assume_role_policy   = data.aws_iam_policy_document.search_admin_assume.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "search_admin" {
  statement {
    sid       = "AdministerTheSearchDomain"
    actions   = local.search_all
    resources = ["${var.opensearch_domain_arn}/*"]
  }
}

resource "aws_iam_role_policy" "search_admin" {
  name   = "search-admin"
  role   = aws_iam_role.search_admin.id
  policy = data.aws_iam_policy_document.search_admin.json
}
