# The stage's KMS keys: rotated yearly, a 30-day deletion window, administered by the
# account; the logs key admits CloudWatch Logs for this account's log groups only and
# CloudWatch alarms of this account only.

mock_provider "aws" {
  source = "../../tests/aws"
}

variables {
  name_prefix = "cb-test"
}

run "rotated_keys_with_narrow_service_grants" {
  command = apply

  assert {
    condition     = alltrue([for k in [aws_kms_key.data, aws_kms_key.logs] : k.enable_key_rotation && k.deletion_window_in_days == 30])
    error_message = "Both keys rotate and wait 30 days before deletion."
  }

  assert {
    condition = jsonencode([for s in jsondecode(aws_kms_key.data.policy).Statement : s.Principal]) == jsonencode([
      { AWS = "arn:aws:iam::123456789012:root" }
    ])
    error_message = "The data key delegates to the account's IAM policies alone (services use it on the caller's behalf)."
  }

  assert {
    condition = jsonencode({ for s in jsondecode(aws_kms_key.logs.policy).Statement : s.Sid => [s.Principal, try(s.Condition, null)] }) == jsonencode({
      AccountAdministersAndDelegatesToIam = [{ AWS = "arn:aws:iam::123456789012:root" }, null]
      CloudWatchLogsEncryptsThisAccountsLogGroups = [
        { Service = "logs.ap-northeast-2.amazonaws.com" },
        { ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:aws:logs:ap-northeast-2:123456789012:log-group:*" } },
      ]
      CloudWatchAlarmsPublishToTheEncryptedTopic = [
        { Service = "cloudwatch.amazonaws.com" },
        { StringEquals = { "aws:SourceAccount" = "123456789012" } },
      ]
    })
    error_message = "The logs key admits CloudWatch Logs for this account's log groups and CloudWatch alarms of this account, no one else."
  }

  assert {
    condition     = aws_kms_alias.data.target_key_id == aws_kms_key.data.key_id && aws_kms_alias.logs.target_key_id == aws_kms_key.logs.key_id
    error_message = "Each key has its alias."
  }
}

run "a_deletion_window_too_short_to_cancel_is_refused" {
  command = plan

  variables {
    deletion_window_in_days = 3
  }

  expect_failures = [var.deletion_window_in_days]
}
