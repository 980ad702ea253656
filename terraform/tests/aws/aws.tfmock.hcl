# Values for `mock_provider "aws" { source = ".../tests/aws" }` in the modules' tests.
#
# A mock provider makes up every computed attribute (eight random characters), but the
# aws provider still validates what one resource takes from another: ARNs, account ids,
# policy JSON. These defaults are valid in form; a test that must tell two resources of
# a type apart overrides them one by one (override_resource).

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
    arn        = "arn:aws:iam::123456789012:user/terraform-test"
    user_id    = "AIDATERRAFORMTEST"
  }
}

mock_data "aws_region" {
  defaults = {
    name        = "ap-northeast-2"
    id          = "ap-northeast-2"
    description = "Asia Pacific (Seoul)"
  }
}

mock_data "aws_partition" {
  defaults = {
    partition          = "aws"
    dns_suffix         = "amazonaws.com"
    reverse_dns_prefix = "com.amazonaws"
  }
}

# The statements of a policy document are tested with the real provider (modules/iam,
# media, search): a mock cannot compute them.
mock_data "aws_iam_policy_document" {
  defaults = {
    json          = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    minified_json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = { arn = "arn:aws:logs:ap-northeast-2:123456789012:log-group:mock" }
}

mock_resource "aws_iam_role" {
  defaults = { arn = "arn:aws:iam::123456789012:role/mock" }
}

mock_resource "aws_sns_topic" {
  defaults = { arn = "arn:aws:sns:ap-northeast-2:123456789012:mock" }
}

mock_resource "aws_kms_key" {
  defaults = { arn = "arn:aws:kms:ap-northeast-2:123456789012:key/00000000-0000-0000-0000-000000000000" }
}

mock_resource "aws_sqs_queue" {
  defaults = {
    arn = "arn:aws:sqs:ap-northeast-2:123456789012:mock"
    url = "https://sqs.ap-northeast-2.amazonaws.com/123456789012/mock"
  }
}

mock_resource "aws_lambda_function" {
  defaults = {
    arn        = "arn:aws:lambda:ap-northeast-2:123456789012:function:mock"
    invoke_arn = "arn:aws:apigateway:ap-northeast-2:lambda:path/2015-03-31/functions/arn:aws:lambda:ap-northeast-2:123456789012:function:mock/invocations"
    version    = "1"
  }
}

mock_resource "aws_lambda_alias" {
  defaults = {
    arn        = "arn:aws:lambda:ap-northeast-2:123456789012:function:mock:live"
    invoke_arn = "arn:aws:apigateway:ap-northeast-2:lambda:path/2015-03-31/functions/arn:aws:lambda:ap-northeast-2:123456789012:function:mock:live/invocations"
  }
}

mock_resource "aws_dynamodb_table" {
  defaults = {
    arn        = "arn:aws:dynamodb:ap-northeast-2:123456789012:table/mock"
    stream_arn = "arn:aws:dynamodb:ap-northeast-2:123456789012:table/mock/stream/2025-01-01T00:00:00.000"
  }
}

mock_resource "aws_s3_bucket" {
  defaults = { arn = "arn:aws:s3:::mock" }
}

mock_resource "aws_cloudfront_distribution" {
  defaults = { arn = "arn:aws:cloudfront::123456789012:distribution/MOCK" }
}

mock_resource "aws_elasticache_replication_group" {
  defaults = { arn = "arn:aws:elasticache:ap-northeast-2:123456789012:replicationgroup:mock" }
}

mock_resource "aws_elasticache_user" {
  defaults = { arn = "arn:aws:elasticache:ap-northeast-2:123456789012:user:mock" }
}

mock_resource "aws_secretsmanager_secret" {
  defaults = { arn = "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:mock" }
}

mock_resource "aws_opensearch_domain" {
  defaults = { arn = "arn:aws:es:ap-northeast-2:123456789012:domain/mock" }
}

mock_resource "aws_ecr_repository" {
  defaults = { arn = "arn:aws:ecr:ap-northeast-2:123456789012:repository/mock" }
}

mock_resource "aws_cloudwatch_event_rule" {
  defaults = { arn = "arn:aws:events:ap-northeast-2:123456789012:rule/mock" }
}

mock_resource "aws_apigatewayv2_api" {
  defaults = { execution_arn = "arn:aws:execute-api:ap-northeast-2:123456789012:mock" }
}

mock_resource "aws_iam_openid_connect_provider" {
  defaults = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
}
