# The application secrets: encrypted with the data key, restorable for a while after a
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

run "no_toss_keys_unless_asked" {
  command = plan

  assert {
    condition     = length(aws_secretsmanager_secret.toss) == 0 && output.toss_secret_key_arn == null && output.toss_security_key_arn == null
    error_message = "A stage on the gateway simulator has no Toss secrets."
  }
}

run "the_toss_keys_are_secrets_of_their_own" {
  command = apply

  variables {
    toss_keys = true
  }

  assert {
    condition     = toset([for s in aws_secretsmanager_secret.toss : s.name if s.kms_key_id == var.kms_key_arn]) == toset(["cb-test/toss-secret-key", "cb-test/toss-security-key"])
    error_message = "Both Toss keys are secrets of the stage, encrypted with the data key."
  }

  assert {
    condition     = output.toss_secret_key_arn == aws_secretsmanager_secret.toss["toss-secret-key"].arn && output.toss_security_key_arn == aws_secretsmanager_secret.toss["toss-security-key"].arn
    error_message = "The outputs name the Toss secrets."
  }
}

run "a_recovery_window_too_short_is_refused" {
  command = plan

  variables {
    recovery_window_days = 1
  }

  expect_failures = [var.recovery_window_days]
}
