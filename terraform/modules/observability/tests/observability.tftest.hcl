# The stage's dashboard and alarms: every widget in its place with its metrics, every alarm
# to the topic. Which application metric a widget or an alarm names is checked against the
# catalogue by tests/infra/test_observability_dashboard.py.

mock_provider "aws" {
  source = "../../tests/aws"
}

variables {
  name_prefix            = "cb-test"
  alarm_emails           = ["oncall@concertbook.example"]
  kms_key_arn            = "arn:aws:kms:ap-northeast-2:123456789012:key/logs"
  function_names         = { api = "cb-test-api", forwarder = "cb-test-forwarder", indexer = "cb-test-indexer", payments = "cb-test-payments" }
  api_id                 = "api123"
  api_stage              = "$default"
  table_name             = "cb-test"
  queue_names            = { payments = "cb-test-payments", images = "cb-test-images" }
  dlq_names              = { payments = "cb-test-payments-dlq", images = "cb-test-images-dlq" }
  failure_queue_names    = { api = "cb-test-api-failures", forwarder = "cb-test-forwarder-failures" }
  opensearch_domain_name = "cb-test"
  redis_node_ids         = ["cb-test-redis-001", "cb-test-redis-002"]
}

run "every_widget_in_its_place_with_its_metrics" {
  command = apply

  # Title, width and number of metric rows of each widget, in order: a widget lost, moved
  # or left with fewer metrics shows here.
  assert {
    condition = [
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets :
      [w.properties.title, w.width, length(w.properties.metrics)]
      ] == [
      ["API requests per second", 8, 2],
      ["API 4xx and 5xx rate (%)", 8, 5],
      ["API latency (ms)", 8, 3],
      ["App requests by route and status class (per minute)", 12, 1],
      ["App 5xx rate (%)", 6, 3],
      ["App latency (ms)", 6, 3],
      ["App p99 latency by route (ms)", 12, 1],
      ["Holds placed and refused (per minute)", 12, 4],
      ["Pre-claim: deferred instead of refusing (false refusals avoided, per minute)", 12, 4],
      ["Tickets sold (per minute)", 8, 1],
      ["Outbox lag (s): the oldest entry not yet relayed", 8, 1],
      ["SQS queue depth (messages)", 8, 2],
      ["Lambda api", 8, 4],
      ["Lambda forwarder", 8, 4],
      ["Lambda indexer", 8, 4],
      ["Lambda payments", 8, 4],
      ["DynamoDB consumed capacity (units/s)", 12, 4],
      ["DynamoDB throttled requests", 12, 11],
      ["SQS age of the oldest message (s)", 12, 2],
      ["Dead-letter and failure queue depth (messages)", 12, 4],
      ["OpenSearch cluster status", 8, 2],
      ["OpenSearch free storage (MiB)", 8, 1],
      ["OpenSearch CPU and JVM memory pressure (%)", 8, 2],
      ["Redis engine CPU (%)", 12, 2],
      ["Redis memory used (%)", 12, 2],
    ]
    error_message = "The dashboard's widgets, in order, each with its width and metrics."
  }

  assert {
    condition = alltrue([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets :
      w.type == "metric" && w.height == 6 && w.properties.region == "ap-northeast-2" && contains([60, 300], w.properties.period)
    ])
    error_message = "Every widget is a metric widget six high, in the stage's region, by the minute (free storage by five)."
  }

  assert {
    condition     = aws_cloudwatch_dashboard.this.dashboard_name == "cb-test"
    error_message = "The dashboard is named after the stage."
  }
}

run "every_alarm_pages_the_topic" {
  command = apply

  assert {
    condition = toset([
      for a in concat(
        [aws_cloudwatch_metric_alarm.api_5xx_rate, aws_cloudwatch_metric_alarm.api_latency_p99, aws_cloudwatch_metric_alarm.table_throttles, aws_cloudwatch_metric_alarm.opensearch_red],
        [aws_cloudwatch_metric_alarm.app_error_rate, aws_cloudwatch_metric_alarm.app_latency_p99, aws_cloudwatch_metric_alarm.outbox_lag],
        values(aws_cloudwatch_metric_alarm.lambda_errors), values(aws_cloudwatch_metric_alarm.lambda_throttles),
        values(aws_cloudwatch_metric_alarm.stream_iterator_age), values(aws_cloudwatch_metric_alarm.parked_messages),
        values(aws_cloudwatch_metric_alarm.queue_age), values(aws_cloudwatch_metric_alarm.redis_cpu), values(aws_cloudwatch_metric_alarm.redis_memory),
      ) : a.alarm_name if a.alarm_actions == toset([aws_sns_topic.alarms.arn]) && a.ok_actions == toset([aws_sns_topic.alarms.arn])
      ]) == toset(concat(
      ["cb-test-api-5xx-rate", "cb-test-api-latency-p99", "cb-test-dynamodb-throttles", "cb-test-opensearch-red"],
      ["cb-test-app-error-rate", "cb-test-app-latency-p99", "cb-test-outbox-lag"],
      [for f in ["api", "forwarder", "indexer", "payments"] : "cb-test-lambda-${f}-errors"],
      [for f in ["api", "forwarder", "indexer", "payments"] : "cb-test-lambda-${f}-throttles"],
      ["cb-test-lambda-forwarder-iterator-age", "cb-test-lambda-indexer-iterator-age"],
      [for q in ["payments-dlq", "images-dlq", "api-failures", "forwarder-failures"] : "cb-test-sqs-${q}-not-empty"],
      [for q in ["payments", "images"] : "cb-test-sqs-${q}-falling-behind"],
      [for n in ["cb-test-redis-001", "cb-test-redis-002"] : "cb-test-redis-${n}-cpu"],
      [for n in ["cb-test-redis-001", "cb-test-redis-002"] : "cb-test-redis-${n}-memory"],
    ))
    error_message = "Every alarm of the stage, each to the topic when it fires and when it clears."
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.table_throttles.metric_query) == 7
    error_message = "The table alarm sums the read and write throttle events of the table and of each index."
  }
}
