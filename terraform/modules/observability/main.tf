# One dashboard for the stage and the alarms that page.
#
# Dashboard: the API (requests per second, 4xx and 5xx rates, latency p75/p90/p99),
# one widget per function (duration, errors, throttles, concurrent executions), the
# table (consumed capacity, throttled requests), the queues (age of the oldest message),
# every dead-letter and failure queue (depth), OpenSearch (cluster status, free storage,
# CPU, JVM memory pressure) and Redis (engine CPU, memory), per node.
#
# Beside AWS's own, the application's metrics (CloudWatch EMF in the ConcertBook
# namespace, named once in booking/observability/catalogue.py; tests/
# test_observability_dashboard.py keeps this file and the catalogue in step): requests by
# route template and status class, the 5xx rate, latency p75/p90/p99 and p99 per route,
# holds placed and refused by reason, the pre-claim's false-refusal guard, tickets sold,
# the outbox lag, and the work queues' depth (SQS's own ApproximateNumberOfMessagesVisible).
#
# Alarms (to the SNS topic, with an e-mail subscription to confirm): API 5xx rate and
# p99 latency, at API Gateway and in the app; errors and throttles of every function;
# table throttling; any message in any dead-letter or failure queue; work queues falling
# behind; the outbox lagging (the app's OutboxLag, and the stream functions' iterator age
# for a stream nobody reads); OpenSearch red; Redis CPU and memory.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  region  = data.aws_region.current.name
  account = data.aws_caller_identity.current.account_id
  api     = ["ApiId", var.api_id, "Stage", var.api_stage]
  # The latency percentiles the dashboard shows, at API Gateway and in the app.
  latency_percentiles = ["p75", "p90", "p99"]
  # Every queue that holds what could not be done: work queues' DLQs and the functions'
  # failure queues.
  parked = merge(
    { for q, name in var.dlq_names : "${q}-dlq" => name },
    { for f, name in var.failure_queue_names : "${f}-failures" => name },
  )
  # Throttle events of the table and of each index; an index adds its own dimension.
  throttle_sources = concat(
    [{ id = "table", index = "" }],
    [for index in var.table_indexes : { id = index, index = index }],
  )
  throttle_queries = merge([
    for source in local.throttle_sources : {
      for kind in ["Read", "Write"] : "${source.id}_${lower(kind)}" => {
        metric = "${kind}ThrottleEvents"
        index  = source.index
      }
    }
  ]...)

  # The dashboard's widgets by what sets each apart: title, width, metrics and, where
  # they differ from the dashboard's, stat and period (aws_cloudwatch_dashboard.this
  # adds the rest). A row of the dashboard is 24 wide.
  api_widgets = [
    {
      title = "API requests per second", width = 8, stat = "Sum"
      metrics = [
        [{ expression = "m1 / PERIOD(m1)", label = "requests/s", id = "e1" }],
        concat(["AWS/ApiGateway", "Count"], local.api, [{ id = "m1", visible = false }]),
      ]
    },
    {
      title = "API 4xx and 5xx rate (%)", width = 8, stat = "Sum"
      metrics = [
        [{ expression = "IF(m1 > 0, 100 * m4 / m1, 0)", label = "4xx %", id = "e4" }],
        [{ expression = "IF(m1 > 0, 100 * m5 / m1, 0)", label = "5xx %", id = "e5" }],
        concat(["AWS/ApiGateway", "Count"], local.api, [{ id = "m1", visible = false }]),
        concat(["AWS/ApiGateway", "4xx"], local.api, [{ id = "m4", visible = false }]),
        concat(["AWS/ApiGateway", "5xx"], local.api, [{ id = "m5", visible = false }]),
      ]
    },
    {
      title   = "API latency (ms)", width = 8
      metrics = [for p in local.latency_percentiles : concat(["AWS/ApiGateway", "Latency"], local.api, [{ stat = p, label = p }])]
    },
  ]

  function_widgets = [
    for name, function_name in var.function_names : {
      title = "Lambda ${name}", width = 8
      metrics = [
        ["AWS/Lambda", "Duration", "FunctionName", function_name, { stat = "p99", label = "duration p99 (ms)", yAxis = "right" }],
        ["AWS/Lambda", "Errors", "FunctionName", function_name, { stat = "Sum", label = "errors" }],
        ["AWS/Lambda", "Throttles", "FunctionName", function_name, { stat = "Sum", label = "throttles" }],
        ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", function_name, { stat = "Maximum", label = "concurrent executions" }],
      ]
    }
  ]

  table_widgets = [
    {
      title = "DynamoDB consumed capacity (units/s)", width = 12, stat = "Sum"
      metrics = [
        [{ expression = "r / PERIOD(r)", label = "read (RCU/s)", id = "er" }],
        [{ expression = "w / PERIOD(w)", label = "write (WCU/s)", id = "ew" }],
        ["AWS/DynamoDB", "ConsumedReadCapacityUnits", "TableName", var.table_name, { id = "r", visible = false }],
        ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", var.table_name, { id = "w", visible = false }],
      ]
    },
    {
      title = "DynamoDB throttled requests", width = 12, stat = "Sum"
      metrics = concat(
        [for op in var.table_operations : ["AWS/DynamoDB", "ThrottledRequests", "TableName", var.table_name, "Operation", op, { label = op }]],
        [for id, q in local.throttle_queries : concat(["AWS/DynamoDB", q.metric, "TableName", var.table_name], q.index == "" ? [] : ["GlobalSecondaryIndexName", q.index], [{ label = "${id} throttle events" }])],
      )
    },
  ]

  queue_widgets = [
    {
      title   = "SQS age of the oldest message (s)", width = 12, stat = "Maximum"
      metrics = [for q, name in var.queue_names : ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", name, { label = q }]]
    },
    {
      title   = "Dead-letter and failure queue depth (messages)", width = 12, stat = "Maximum"
      metrics = [for q, name in local.parked : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name, { label = q }]]
    },
  ]

  search_widgets = [
    {
      title = "OpenSearch cluster status", width = 8, stat = "Maximum"
      metrics = [
        ["AWS/ES", "ClusterStatus.red", "DomainName", var.opensearch_domain_name, "ClientId", local.account, { label = "red" }],
        ["AWS/ES", "ClusterStatus.yellow", "DomainName", var.opensearch_domain_name, "ClientId", local.account, { label = "yellow" }],
      ]
    },
    {
      title = "OpenSearch free storage (MiB)", width = 8, stat = "Minimum", period = 300
      metrics = [
        ["AWS/ES", "FreeStorageSpace", "DomainName", var.opensearch_domain_name, "ClientId", local.account, { label = "free storage" }],
      ]
    },
    {
      title = "OpenSearch CPU and JVM memory pressure (%)", width = 8, stat = "Maximum"
      metrics = [
        ["AWS/ES", "CPUUtilization", "DomainName", var.opensearch_domain_name, "ClientId", local.account, { label = "CPU" }],
        ["AWS/ES", "JVMMemoryPressure", "DomainName", var.opensearch_domain_name, "ClientId", local.account, { label = "JVM memory pressure" }],
      ]
    },
  ]

  cache_widgets = [
    {
      title   = "Redis engine CPU (%)", width = 12, stat = "Maximum"
      metrics = [for node in var.redis_node_ids : ["AWS/ElastiCache", "EngineCPUUtilization", "CacheClusterId", node, { label = node }]]
    },
    {
      title   = "Redis memory used (%)", width = 12, stat = "Maximum"
      metrics = [for node in var.redis_node_ids : ["AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "CacheClusterId", node, { label = node }]]
    },
  ]
}

# -- the application's own metrics (EMF) --------------------------------------------------
locals {
  app_namespace = "ConcertBook"
  # The dimension values the code writes (booking/domain/telemetry.py).
  hold_refusal_reasons = ["taken", "limit", "pre-claim"]
  preclaim_guards      = ["in-flight", "replay", "elsewhere", "unavailable"]

  app_widgets = [
    {
      title = "App requests by route and status class (per minute)", width = 12
      metrics = [
        [{ expression = "SEARCH('{${local.app_namespace},method,route,status_class} MetricName=\"HttpRequests\"', 'Sum', 60)", id = "routes", label = "" }],
      ]
    },
    {
      title = "App 5xx rate (%)", width = 6, stat = "Sum"
      metrics = [
        [{ expression = "IF(requests > 0, 100 * errors / requests, 0)", label = "5xx %", id = "rate" }],
        [local.app_namespace, "HttpRequests", { id = "requests", visible = false }],
        [local.app_namespace, "HttpErrors", { id = "errors", visible = false }],
      ]
    },
    {
      title   = "App latency (ms)", width = 6
      metrics = [for p in local.latency_percentiles : [local.app_namespace, "RequestLatency", { stat = p, label = p }]]
    },
    {
      title = "App p99 latency by route (ms)", width = 12
      metrics = [
        [{ expression = "SEARCH('{${local.app_namespace},method,route} MetricName=\"RequestLatency\"', 'p99', 60)", id = "p99", label = "" }],
      ]
    },
    {
      title = "Holds placed and refused (per minute)", width = 12, stat = "Sum"
      metrics = concat(
        [[local.app_namespace, "HoldsPlaced", { label = "placed" }]],
        [for reason in local.hold_refusal_reasons : [local.app_namespace, "HoldsRefused", "reason", reason, { label = "refused: ${reason}" }]],
      )
    },
    {
      title   = "Pre-claim: deferred instead of refusing (false refusals avoided, per minute)", width = 12, stat = "Sum"
      metrics = [for guard in local.preclaim_guards : [local.app_namespace, "PreclaimGuardHits", "reason", guard, { label = guard }]]
    },
    {
      title   = "Tickets sold (per minute)", width = 8, stat = "Sum"
      metrics = [[local.app_namespace, "TicketsSold", { label = "tickets sold" }]]
    },
    {
      title   = "Outbox lag (s): the oldest entry not yet relayed", width = 8, stat = "Maximum"
      metrics = [[local.app_namespace, "OutboxLag", { label = "outbox lag" }]]
    },
    {
      title   = "SQS queue depth (messages)", width = 8, stat = "Maximum"
      metrics = [for q, name in var.queue_names : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", name, { label = q }]]
    },
  ]
}

# The dashboard from top to bottom; each widget its spec over what every widget shares.
locals {
  widget_specs = concat(
    local.api_widgets,
    local.app_widgets,
    local.function_widgets,
    local.table_widgets,
    local.queue_widgets,
    local.search_widgets,
    local.cache_widgets,
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name_prefix
  dashboard_body = jsonencode({
    widgets = [
      for spec in local.widget_specs : {
        type       = "metric"
        width      = spec.width
        height     = 6
        properties = merge({ region = local.region, period = 60 }, { for key, value in spec : key => value if key != "width" })
      }
    ]
  })
}

# -- paging ---------------------------------------------------------------------------------
resource "aws_sns_topic" "alarms" {
  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  actions = [aws_sns_topic.alarms.arn]
}

# One resource per kind of alarm, though most share a shape: the families are keyed by
# function, queue and Redis node, keys a `moved` block cannot list (they differ by stage),
# so folding them into one for_each would replace the alarms of every deployed stage.

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${var.name_prefix}-api-5xx-rate"
  alarm_description   = "More than ${var.api_5xx_rate_percent}% of API requests answered 5xx in 3 of 5 minutes."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_5xx_rate_percent
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * errors / requests, 0)"
    label       = "5xx %"
    return_data = true
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      dimensions  = { ApiId = var.api_id, Stage = var.api_stage }
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5xx"
      dimensions  = { ApiId = var.api_id, Stage = var.api_stage }
      period      = 60
      stat        = "Sum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "api_latency_p99" {
  alarm_name          = "${var.name_prefix}-api-latency-p99"
  alarm_description   = "API p99 latency above ${var.api_p99_latency_ms} ms for 5 minutes."
  namespace           = "AWS/ApiGateway"
  metric_name         = "Latency"
  dimensions          = { ApiId = var.api_id, Stage = var.api_stage }
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_p99_latency_ms
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each            = var.function_names
  alarm_name          = "${var.name_prefix}-lambda-${each.key}-errors"
  alarm_description   = "The ${each.key} function failed ${var.lambda_error_threshold} or more invocations in 5 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.lambda_error_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "lambda_throttles" {
  for_each            = var.function_names
  alarm_name          = "${var.name_prefix}-lambda-${each.key}-throttles"
  alarm_description   = "The ${each.key} function was throttled (reserved concurrency reached) in 5 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.lambda_throttle_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "table_throttles" {
  alarm_name          = "${var.name_prefix}-dynamodb-throttles"
  alarm_description   = "The table or an index throttled reads or writes in 2 consecutive minutes."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 2
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "throttled"
    expression  = "SUM(METRICS())"
    label       = "throttle events"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = local.throttle_queries
    content {
      id = metric_query.key
      metric {
        namespace   = "AWS/DynamoDB"
        metric_name = metric_query.value.metric
        dimensions = merge(
          { TableName = var.table_name },
          { for k, v in { GlobalSecondaryIndexName = metric_query.value.index } : k => v if v != "" },
        )
        period = 60
        stat   = "Sum"
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "parked_messages" {
  for_each            = local.parked
  alarm_name          = "${var.name_prefix}-sqs-${each.key}-not-empty"
  alarm_description   = "${each.value} holds messages that could not be processed: inspect, fix, redrive."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "queue_age" {
  for_each            = var.queue_names
  alarm_name          = "${var.name_prefix}-sqs-${each.key}-falling-behind"
  alarm_description   = "The oldest message in ${each.value} is older than ${var.queue_age_seconds} s for 3 minutes."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.queue_age_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "opensearch_red" {
  alarm_name          = "${var.name_prefix}-opensearch-red"
  alarm_description   = "At least one primary shard of the search domain is unassigned."
  namespace           = "AWS/ES"
  metric_name         = "ClusterStatus.red"
  dimensions          = { DomainName = var.opensearch_domain_name, ClientId = local.account }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "redis_cpu" {
  for_each            = toset(var.redis_node_ids)
  alarm_name          = "${var.name_prefix}-redis-${each.key}-cpu"
  alarm_description   = "Redis engine CPU of ${each.key} above ${var.redis_cpu_percent}% for 5 minutes (Redis runs one thread)."
  namespace           = "AWS/ElastiCache"
  metric_name         = "EngineCPUUtilization"
  dimensions          = { CacheClusterId = each.key }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.redis_cpu_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "redis_memory" {
  for_each            = toset(var.redis_node_ids)
  alarm_name          = "${var.name_prefix}-redis-${each.key}-memory"
  alarm_description   = "Redis memory of ${each.key} above ${var.redis_memory_percent}% for 5 minutes."
  namespace           = "AWS/ElastiCache"
  metric_name         = "DatabaseMemoryUsagePercentage"
  dimensions          = { CacheClusterId = each.key }
  statistic           = "Average"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.redis_memory_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "app_error_rate" {
  alarm_name          = "${var.name_prefix}-app-error-rate"
  alarm_description   = "More than ${var.api_5xx_rate_percent}% of the app's answers were 5xx (failures and load shed) in 3 of 5 minutes."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_5xx_rate_percent
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * errors / requests, 0)"
    label       = "app 5xx %"
    return_data = true
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = local.app_namespace
      metric_name = "HttpRequests"
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = local.app_namespace
      metric_name = "HttpErrors"
      period      = 60
      stat        = "Sum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "app_latency_p99" {
  alarm_name          = "${var.name_prefix}-app-latency-p99"
  alarm_description   = "The app's p99 latency above ${var.api_p99_latency_ms} ms for 5 minutes."
  namespace           = local.app_namespace
  metric_name         = "RequestLatency"
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_p99_latency_ms
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "outbox_lag" {
  alarm_name          = "${var.name_prefix}-outbox-lag"
  alarm_description   = "Outbox entries waited more than ${var.outbox_lag_seconds} s to be relayed in 3 of 5 minutes: paid orders wait for their tickets, search for its listings."
  namespace           = local.app_namespace
  metric_name         = "OutboxLag"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.outbox_lag_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# OutboxLag is written when entries are relayed; a stream function that reads nothing
# writes none. Lambda's own iterator age of the stream mappings covers that case.
resource "aws_cloudwatch_metric_alarm" "stream_iterator_age" {
  for_each            = { for f in var.stream_functions : f => var.function_names[f] if contains(keys(var.function_names), f) }
  alarm_name          = "${var.name_prefix}-lambda-${each.key}-iterator-age"
  alarm_description   = "The ${each.key} function is more than ${var.outbox_lag_seconds} s behind the table's stream for 3 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.outbox_lag_seconds * 1000
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}
