# The two application secrets: encrypted with the data key, restorable for a while after a
# deletion; Terraform creates them, never their values (docs/DEPLOY.md seeds them).

mock_provider "aws" {
  source = "../../tests/aws"
}

variables {
  name_prefix = "cb-test"
  kms_key_arn = "arn:aws:kms:ap-northeast-2:123456789012:key/data"
}

run "both_secrets_encrypted_with_the_data_key" {
  command = apply

  assert {
    condition = alltrue([for s in [aws_secretsmanager_secret.webhook, aws_secretsmanager_secret.ticket_signing_key] :
      s.kms_key_id == var.kms_key_arn && s.recovery_window_in_days == 30
    ])
    error_message = "Both secrets are encrypted with the data key and restorable for 30 days."
  }

  assert {
    condition     = output.webhook_secret_arn == aws_secretsmanager_secret.webhook.arn && output.ticket_signing_key_arn == aws_secretsmanager_secret.ticket_signing_key.arn
    error_message = "The outputs (CONCERTBOOK_*_ARN) name the secrets."
  }
}

run "a_recovery_window_too_short_is_refused" {
  command = plan

  variables {
    recovery_window_days = 1
  }

  expect_failures = [var.recovery_window_days]
}
