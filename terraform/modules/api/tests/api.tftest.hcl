# The public API: an HTTP API whose $default route proxies to the API function's alias
# (payload 2.0), throttled per stage, with JSON access logs in a log group of its own.

mock_provider "aws" {
  source = "../../tests/aws"
}

variables {
  name_prefix            = "cb-test"
  function_name          = "cb-test-api"
  function_qualifier     = "live"
  function_invoke_arn    = "arn:aws:apigateway:ap-northeast-2:lambda:path/2015-03-31/functions/arn:aws:lambda:ap-northeast-2:123456789012:function:cb-test-api:live/invocations"
  throttling_burst_limit = 200
  throttling_rate_limit  = 100
  cors_allowed_origins   = ["https://concertbook.example"]
  logs_kms_key_arn       = "arn:aws:kms:ap-northeast-2:123456789012:key/logs"
  log_retention_days     = 14
}

run "an_http_api_that_proxies_everything_to_the_api_alias" {
  command = apply

  assert {
    condition     = aws_apigatewayv2_api.this.protocol_type == "HTTP"
    error_message = "An HTTP API (not REST, not WebSocket)."
  }

  assert {
    condition = (
      aws_apigatewayv2_integration.lambda.integration_type == "AWS_PROXY" &&
      aws_apigatewayv2_integration.lambda.integration_uri == var.function_invoke_arn &&
      aws_apigatewayv2_integration.lambda.payload_format_version == "2.0" &&
      aws_apigatewayv2_integration.lambda.timeout_milliseconds == 29000
    )
    error_message = "The integration proxies to the API alias with payload 2.0 (api/lambda_handler.py)."
  }

  assert {
    condition     = aws_apigatewayv2_route.default.route_key == "$default" && aws_apigatewayv2_route.default.target == "integrations/${aws_apigatewayv2_integration.lambda.id}"
    error_message = "The $default route takes every request to the integration."
  }

  assert {
    condition = (
      aws_lambda_permission.api.principal == "apigateway.amazonaws.com" &&
      aws_lambda_permission.api.function_name == var.function_name &&
      aws_lambda_permission.api.qualifier == var.function_qualifier &&
      aws_lambda_permission.api.source_arn == "${aws_apigatewayv2_api.this.execution_arn}/*"
    )
    error_message = "Only this API may invoke the API alias."
  }

  assert {
    condition     = one(aws_apigatewayv2_api.this.cors_configuration).allow_origins == toset(var.cors_allowed_origins)
    error_message = "CORS admits the web origins only."
  }
}

run "the_stage_is_throttled_and_logged" {
  command = apply

  assert {
    condition = (
      one(aws_apigatewayv2_stage.default.default_route_settings).throttling_burst_limit == var.throttling_burst_limit &&
      one(aws_apigatewayv2_stage.default.default_route_settings).throttling_rate_limit == var.throttling_rate_limit
    )
    error_message = "The stage throttles bursts and the steady rate as the stage sets them."
  }

  assert {
    condition     = one(aws_apigatewayv2_stage.default.access_log_settings).destination_arn == aws_cloudwatch_log_group.access.arn
    error_message = "Access logs go to the API's own log group."
  }

  assert {
    condition = alltrue([for field in ["requestId", "ip", "httpMethod", "path", "status", "responseLatency", "integrationError"] :
      can(jsondecode(one(aws_apigatewayv2_stage.default.access_log_settings).format)[field])
    ]) && jsondecode(one(aws_apigatewayv2_stage.default.access_log_settings).format).status == "$context.status"
    error_message = "Access logs are JSON with the request, the status, the latency and the integration's error."
  }

  assert {
    condition     = aws_cloudwatch_log_group.access.retention_in_days == var.log_retention_days && aws_cloudwatch_log_group.access.kms_key_id == var.logs_kms_key_arn
    error_message = "The access logs expire and are encrypted with the logs key."
  }
}

run "unthrottled_stages_are_refused" {
  command = plan

  variables {
    throttling_rate_limit = 0
  }

  expect_failures = [var.throttling_rate_limit]
}

run "cors_for_any_origin_is_refused" {
  command = plan

  variables {
    cors_allowed_origins = ["*"]
  }

  expect_failures = [var.cors_allowed_origins]
}
