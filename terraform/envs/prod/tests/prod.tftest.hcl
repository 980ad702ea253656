# The prod stage as its workflows plan it: terraform.tfvars plus the two variables the
# workflows pass (account_id, image_tag), every module's validations with prod's sizes
# (three zones, a NAT gateway and an OpenSearch node in each, a Redis replica).
# tests/infra/test_terraform.py reads this file's `stage` run (terraform test -json -verbose)
# to compare the planned stage with the code.

mock_provider "aws" {
  source = "../../tests/aws"
}

# The API alias by its own ARN, so an API that invokes another function shows.
override_resource {
  target = module.stack.module.functions.aws_lambda_alias.live["api"]
  values = {
    arn        = "arn:aws:lambda:ap-northeast-2:123456789012:function:concertbook-prod-api:live"
    invoke_arn = "arn:aws:apigateway:ap-northeast-2:lambda:path/2015-03-31/functions/arn:aws:lambda:ap-northeast-2:123456789012:function:concertbook-prod-api:live/invocations"
  }
}

variables {
  account_id = "123456789012"
  image_tag  = "abc123"
}

run "stage" {
  command = apply

  assert {
    condition     = output.table_name == "concertbook-prod"
    error_message = "The prod table is concertbook-prod."
  }

  assert {
    condition     = alltrue([for value in [output.api_url, output.cdn_domain_name, output.dashboard_name, output.webhook_secret_arn, output.ticket_signing_key_arn] : value != null && value != ""])
    error_message = "The stage outputs what its deployers need."
  }

  assert {
    condition     = toset(keys(output.function_names)) == toset(["api", "forwarder", "payments", "notifications", "webhooks", "images-queue", "images", "expiry", "indexer"])
    error_message = "The stage runs every function (Toss Payments sends its own webhooks: no simulator's deliverer)."
  }

  assert {
    condition     = output.toss_secret_key_arn != null && output.toss_security_key_arn != null
    error_message = "Prod takes card payments through Toss Payments, its keys in the stage's secrets."
  }
}

run "the_workflows_pass_an_account_of_12_digits" {
  command = plan

  variables {
    account_id = "prod"
  }

  expect_failures = [var.account_id]
}
