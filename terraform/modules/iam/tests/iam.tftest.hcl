# Least privilege, function by function, read from the policies the roles get.
#
# The aws provider itself computes the policy documents (a mock would make them up), so
# this file plans against the real provider with made-up credentials and no API call:
# data.aws_iam_policy_document, aws_region and aws_partition are computed locally, and
# the caller's identity (an STS call) is overridden.

provider "aws" {
  region                      = "ap-northeast-2"
  access_key                  = "terraform-test"
  secret_key                  = "terraform-test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}

variables {
  name_prefix = "cb-test"
  functions   = ["api", "forwarder", "payments", "notifications", "webhooks", "images-queue", "images", "expiry", "indexer"]
  table_arn   = "arn:aws:dynamodb:ap-northeast-2:123456789012:table/cb-test"
  queue_arns = {
    payments      = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-payments"
    notifications = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-notifications"
    images        = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-images"
    webhooks      = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-webhooks"
  }
  dlq_arns = {
    payments      = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-payments-dlq"
    notifications = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-notifications-dlq"
    images        = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-images-dlq"
    webhooks      = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-webhooks-dlq"
  }
  failure_queue_arns = {
    api       = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-api-failures"
    forwarder = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-forwarder-failures"
    indexer   = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-indexer-failures"
    images    = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-images-failures"
    expiry    = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-expiry-failures"
  }
  cache_arn               = "arn:aws:elasticache:ap-northeast-2:123456789012:replicationgroup:cb-test-redis"
  cache_user_arn          = "arn:aws:elasticache:ap-northeast-2:123456789012:user:cb-test-app"
  media_bucket_arn        = "arn:aws:s3:::cb-test-media-123456789012"
  media_kms_key_arn       = "arn:aws:kms:ap-northeast-2:123456789012:key/media"
  data_kms_key_arn        = "arn:aws:kms:ap-northeast-2:123456789012:key/data"
  webhook_secret_arn      = "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:cb-test/webhook-secret"
  ticket_signing_key_arn  = "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:cb-test/ticket-signing-key"
  opensearch_domain_arn   = "arn:aws:es:ap-northeast-2:123456789012:domain/cb-test"
  ses_identity_arns       = ["arn:aws:ses:ap-northeast-2:123456789012:identity/concertbook.example"]
  mail_from_address       = "tickets@concertbook.example"
  search_admin_principals = ["arn:aws:iam::123456789012:role/admin"]
}

run "one_role_per_function_that_only_lambda_of_this_account_assumes" {
  command = plan

  assert {
    condition     = sort(keys(aws_iam_role.function)) == sort(var.functions) && sort(keys(aws_iam_role_policy.function)) == sort(var.functions)
    error_message = "Every function has an execution role and a policy of its own."
  }

  assert {
    condition = alltrue([for r in aws_iam_role.function :
      jsonencode(jsondecode(r.assume_role_policy).Statement) == jsonencode([{
        Effect    = "Allow"
        Action    = "sts:AssumeRole"
        Principal = { Service = "lambda.amazonaws.com" }
        Condition = { StringEquals = { "aws:SourceAccount" = "123456789012" } }
      }])
    ])
    error_message = "Only Lambda, for this account, assumes the execution roles."
  }

  assert {
    condition     = alltrue([for a in aws_iam_role_policy_attachment.vpc_access : a.policy_arn == "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"]) && alltrue([for a in aws_iam_role_policy_attachment.xray : a.policy_arn == "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"])
    error_message = "The only managed policies are Lambda's VPC networking and X-Ray's segment writing."
  }
}

run "no_wildcard_actions_and_every_resource_named" {
  command = plan

  assert {
    condition = alltrue(flatten([for p in aws_iam_role_policy.function : [for s in jsondecode(p.policy).Statement :
      [for a in flatten([s.Action]) : !strcontains(a, "*")]
    ]]))
    error_message = "A function's policy has a wildcard action: ${jsonencode({ for fn, p in aws_iam_role_policy.function : fn => distinct(flatten([for s in jsondecode(p.policy).Statement : [for a in flatten([s.Action]) : a if strcontains(a, "*")]])) })}"
  }

  assert {
    condition = alltrue(flatten([for p in aws_iam_role_policy.function : [for s in jsondecode(p.policy).Statement :
      [for r in flatten([s.Resource]) : startswith(r, "arn:aws:") && r != "*"] if s.Effect == "Allow"
    ]]))
    error_message = "Every allowed action names its resources by ARN (no \"*\")."
  }

  # How each service is reached from the private subnets: dynamodb and s3 through gateway
  # endpoints, sqs and secretsmanager through interface endpoints (modules/network), es in
  # the VPC, ses through the NAT gateway (its endpoint serves SMTP only). kms is called by
  # those services on the function's behalf, and elasticache:Connect is an authorisation
  # the cache checks at AUTH time, not an API call. A new service needs its way in first.
  assert {
    condition = toset(flatten([for p in aws_iam_role_policy.function : [for s in jsondecode(p.policy).Statement :
      [for a in flatten([s.Action]) : split(":", a)[0]]
    ]])) == toset(["dynamodb", "sqs", "s3", "secretsmanager", "es", "ses", "kms", "elasticache"])
    error_message = "The functions call other services than those the network reaches: ${jsonencode(distinct(flatten([for p in aws_iam_role_policy.function : [for s in jsondecode(p.policy).Statement : [for a in flatten([s.Action]) : split(":", a)[0]]]])))}"
  }

  assert {
    condition = alltrue(flatten([for p in aws_iam_role_policy.function : [for s in jsondecode(p.policy).Statement :
      can(s.Condition.StringEquals["kms:ViaService"]) if anytrue([for a in flatten([s.Action]) : startswith(a, "kms:")])
    ]]))
    error_message = "A function uses a KMS key other than through the service that holds the data."
  }
}

run "queues_each_function_sends_to_and_drains" {
  command = plan

  assert {
    condition = jsonencode({ for fn, p in aws_iam_role_policy.function :
      fn => sort(distinct(flatten([for s in jsondecode(p.policy).Statement : flatten([s.Resource]) if contains(flatten([s.Action]), "sqs:SendMessage")])))
      }) == jsonencode({
      api            = sort([var.queue_arns["webhooks"], var.failure_queue_arns["api"]])
      forwarder      = sort([var.queue_arns["payments"], var.queue_arns["notifications"], var.queue_arns["images"], var.failure_queue_arns["forwarder"]])
      payments       = [var.dlq_arns["payments"]]
      notifications  = [var.dlq_arns["notifications"]]
      webhooks       = [var.dlq_arns["webhooks"]]
      "images-queue" = [var.dlq_arns["images"]]
      images         = [var.failure_queue_arns["images"]]
      expiry         = [var.failure_queue_arns["expiry"]]
      indexer        = [var.failure_queue_arns["indexer"]]
    })
    error_message = "sqs:SendMessage beyond what the code sends (the API: webhooks; the forwarder: the outbox queues; consumers: their DLQ; the rest: their failure queue): ${jsonencode({ for fn, p in aws_iam_role_policy.function : fn => sort(distinct(flatten([for s in jsondecode(p.policy).Statement : flatten([s.Resource]) if contains(flatten([s.Action]), "sqs:SendMessage")]))) })}"
  }

  assert {
    condition = jsonencode({ for fn, p in aws_iam_role_policy.function :
      fn => sort(distinct(flatten([for s in jsondecode(p.policy).Statement : flatten([s.Resource]) if length(setintersection(flatten([s.Action]), ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"])) > 0])))
      }) == jsonencode({
      api            = []
      forwarder      = []
      payments       = [var.queue_arns["payments"]]
      notifications  = [var.queue_arns["notifications"]]
      webhooks       = [var.queue_arns["webhooks"]]
      "images-queue" = [var.queue_arns["images"]]
      images         = []
      expiry         = []
      indexer        = []
    })
    error_message = "A function drains more than its own work queue."
  }
}

run "secrets_search_mail_and_redis_only_where_the_code_uses_them" {
  command = plan

  assert {
    condition = jsonencode({ for fn, p in aws_iam_role_policy.function :
      fn => sort(distinct(flatten([for s in jsondecode(p.policy).Statement : flatten([s.Resource]) if contains(flatten([s.Action]), "secretsmanager:GetSecretValue")])))
      }) == jsonencode({
      api            = sort([var.webhook_secret_arn, var.ticket_signing_key_arn])
      forwarder      = []
      payments       = [var.ticket_signing_key_arn]
      notifications  = []
      webhooks       = []
      "images-queue" = []
      images         = []
      expiry         = []
      indexer        = []
    })
    error_message = "Secrets read beyond the API (both) and payments (the ticket signing key)."
  }

  assert {
    condition = jsonencode({ for fn, p in aws_iam_role_policy.function :
      fn => sort(distinct(flatten([for s in jsondecode(p.policy).Statement : [for a in flatten([s.Action]) : a if startswith(a, "es:")]])))
      }) == jsonencode({
      api            = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"]
      forwarder      = []
      payments       = []
      notifications  = []
      webhooks       = []
      "images-queue" = []
      images         = []
      expiry         = []
      indexer        = ["es:ESHttpDelete", "es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut"]
    })
    error_message = "Search access beyond the API (read) and the indexer (read, write)."
  }

  assert {
    condition = alltrue(flatten([for p in aws_iam_role_policy.function : [for s in jsondecode(p.policy).Statement :
      flatten([s.Resource]) == ["${var.opensearch_domain_arn}/*"] if anytrue([for a in flatten([s.Action]) : startswith(a, "es:")])
    ]]))
    error_message = "Search actions on something other than the stage's domain."
  }

  assert {
    condition = jsonencode({ for fn, p in aws_iam_role_policy.function :
      fn => [for s in jsondecode(p.policy).Statement : s if anytrue([for a in flatten([s.Action]) : startswith(a, "ses:")])]
      if anytrue([for s in jsondecode(p.policy).Statement : anytrue([for a in flatten([s.Action]) : startswith(a, "ses:")])])
      }) == jsonencode({
      notifications = [{
        Sid       = "SendConfirmationMailAsTheConfiguredSender"
        Effect    = "Allow"
        Action    = "ses:SendRawEmail"
        Resource  = var.ses_identity_arns[0]
        Condition = { StringEquals = { "ses:FromAddress" = var.mail_from_address } }
      }]
    })
    error_message = "Mail is sent by the notifications function alone, through the stage's identity, as the configured sender only."
  }

  assert {
    condition = jsonencode({ for fn, p in aws_iam_role_policy.function :
      fn => sort(distinct(flatten([for s in jsondecode(p.policy).Statement : flatten([s.Resource]) if contains(flatten([s.Action]), "elasticache:Connect")])))
      if anytrue([for s in jsondecode(p.policy).Statement : contains(flatten([s.Action]), "elasticache:Connect")])
      }) == jsonencode({
      api      = sort([var.cache_arn, var.cache_user_arn])
      expiry   = sort([var.cache_arn, var.cache_user_arn])
      payments = sort([var.cache_arn, var.cache_user_arn])
      webhooks = sort([var.cache_arn, var.cache_user_arn])
    })
    error_message = "Redis (elasticache:Connect on the cache and its user) beyond the functions that use the pre-claim."
  }
}

run "the_gateway_simulators_deliverer_signs_with_the_webhook_secret_only" {
  command = plan

  variables {
    functions = ["api", "forwarder", "payments", "notifications", "webhooks", "images-queue", "images", "expiry", "indexer", "gateway-webhooks"]
    failure_queue_arns = {
      api                = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-api-failures"
      forwarder          = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-forwarder-failures"
      indexer            = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-indexer-failures"
      images             = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-images-failures"
      expiry             = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-expiry-failures"
      "gateway-webhooks" = "arn:aws:sqs:ap-northeast-2:123456789012:cb-test-gateway-webhooks-failures"
    }
  }

  assert {
    condition = jsonencode([for s in jsondecode(aws_iam_role_policy.function["gateway-webhooks"].policy).Statement : {
      sid = s.Sid, actions = sort(flatten([s.Action])), resources = sort(flatten([s.Resource]))
      } if s.Sid != "DataKeyThroughItsServices"]) == jsonencode([
      { sid = "TableReadWrite", actions = sort(["dynamodb:GetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]), resources = sort([var.table_arn, "${var.table_arn}/index/*"]) },
      { sid = "SignTheWebhooks", actions = ["secretsmanager:GetSecretValue"], resources = [var.webhook_secret_arn] },
      { sid = "FailedAsyncInvocations", actions = ["sqs:SendMessage"], resources = ["arn:aws:sqs:ap-northeast-2:123456789012:cb-test-gateway-webhooks-failures"] },
    ])
    error_message = "The simulator's deliverer reads and writes the table, reads the webhook secret and parks failed invocations: nothing more."
  }
}

run "the_payment_providers_keys_for_the_functions_that_call_it" {
  command = plan

  variables {
    payment_provider_secret_arns = [
      "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:cb-test/toss-secret-key",
      "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:cb-test/toss-security-key",
    ]
  }

  assert {
    condition = jsonencode({ for fn, p in aws_iam_role_policy.function :
      fn => sort(distinct(flatten([for s in jsondecode(p.policy).Statement : flatten([s.Resource]) if contains(flatten([s.Action]), "secretsmanager:GetSecretValue")])))
      if anytrue([for s in jsondecode(p.policy).Statement : contains(flatten([s.Action]), "secretsmanager:GetSecretValue")])
      }) == jsonencode({
      api      = sort(concat([var.webhook_secret_arn, var.ticket_signing_key_arn], var.payment_provider_secret_arns))
      payments = sort(concat([var.ticket_signing_key_arn], var.payment_provider_secret_arns))
      webhooks = sort(var.payment_provider_secret_arns)
    })
    error_message = "The Toss keys are read by the API, payments and webhooks functions, and by no other."
  }
}

run "the_table_and_the_media_bucket_by_their_parts" {
  command = plan

  assert {
    condition = alltrue(flatten([for p in aws_iam_role_policy.function : [for s in jsondecode(p.policy).Statement :
      [for r in flatten([s.Resource]) : contains([var.table_arn, "${var.table_arn}/index/*", "${var.table_arn}/stream/*"], r)]
      if anytrue([for a in flatten([s.Action]) : startswith(a, "dynamodb:")])
    ]]))
    error_message = "DynamoDB actions on something other than the table, its indexes and its stream."
  }

  assert {
    condition = jsonencode({ for fn, p in aws_iam_role_policy.function :
      fn => sort(distinct(flatten([for s in jsondecode(p.policy).Statement : [for a in flatten([s.Action]) : a if contains(["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"], a)]])))
      if contains(["forwarder", "indexer"], fn)
    }) == jsonencode({ forwarder = ["dynamodb:DeleteItem"], indexer = [] })
    error_message = "The stream readers write to the table: the indexer never, the forwarder only to delete what it forwarded."
  }

  assert {
    condition = alltrue([for s in jsondecode(aws_iam_role_policy.function["forwarder"].policy).Statement :
      s.Condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == "OUTBOX#*" if contains(flatten([s.Action]), "dynamodb:DeleteItem")
    ])
    error_message = "The forwarder deletes OUTBOX# items only."
  }

  assert {
    condition = jsonencode({ for fn, p in aws_iam_role_policy.function :
      fn => { for a in sort(distinct(flatten([for s in jsondecode(p.policy).Statement : [for a in flatten([s.Action]) : a if startswith(a, "s3:")]]))) :
        a => sort(distinct(flatten([for s in jsondecode(p.policy).Statement : flatten([s.Resource]) if contains(flatten([s.Action]), a)])))
      }
      if anytrue([for s in jsondecode(p.policy).Statement : anytrue([for a in flatten([s.Action]) : startswith(a, "s3:")])])
      }) == jsonencode({
      api = {
        "s3:GetObject" = ["${var.media_bucket_arn}/posters/*"]
        "s3:PutObject" = sort(["${var.media_bucket_arn}/posters/*", "${var.media_bucket_arn}/uploads/*"])
      }
      "images-queue" = {
        "s3:GetObject" = ["${var.media_bucket_arn}/posters/*"]
        "s3:PutObject" = ["${var.media_bucket_arn}/posters/*"]
      }
      images = {
        "s3:DeleteObject" = ["${var.media_bucket_arn}/uploads/*"]
        "s3:GetObject"    = ["${var.media_bucket_arn}/uploads/*"]
        "s3:PutObject"    = ["${var.media_bucket_arn}/posters/*"]
      }
    })
    error_message = "Media access beyond uploads/ and posters/ as the code uses them: ${jsonencode({ for fn, p in aws_iam_role_policy.function : fn => distinct(flatten([for s in jsondecode(p.policy).Statement : flatten([s.Resource]) if anytrue([for a in flatten([s.Action]) : startswith(a, "s3:")])])) })}"
  }
}

run "the_search_admin_needs_mfa" {
  command = plan

  assert {
    condition = jsonencode(jsondecode(aws_iam_role.search_admin.assume_role_policy).Statement) == jsonencode([{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { AWS = var.search_admin_principals[0] }
      Condition = { Bool = { "aws:MultiFactorAuthPresent" = "true" } }
    }])
    error_message = "Only the named principals, with MFA, assume the search admin role."
  }

  assert {
    condition = alltrue([for s in jsondecode(aws_iam_role_policy.search_admin.policy).Statement :
      flatten([s.Resource]) == ["${var.opensearch_domain_arn}/*"]
    ])
    error_message = "The search admin administers the stage's domain and nothing else."
  }
}

run "a_function_without_a_policy_document_is_refused" {
  command = plan

  variables {
    functions = ["api", "refunds"]
  }

  expect_failures = [var.functions]
}

run "mail_through_something_other_than_an_ses_identity_is_refused" {
  command = plan

  variables {
    ses_identity_arns = ["*"]
  }

  expect_failures = [var.ses_identity_arns]
}

run "a_search_admin_role_nobody_may_assume_is_refused" {
  command = plan

  variables {
    search_admin_principals = []
  }

  expect_failures = [var.search_admin_principals]
}
