# The application secrets, read once per execution environment by
# booking/bootstrap_aws.with_secrets from the ARNs in CONCERTBOOK_WEBHOOK_SECRET_ARN and
# CONCERTBOOK_TICKET_SIGNING_KEY_ARN, and with Toss Payments as the payment provider
# (var.toss_keys) CONCERTBOOK_TOSS_SECRET_KEY_ARN and CONCERTBOOK_TOSS_SECURITY_KEY_ARN.
#
# Terraform creates the secrets, never their values: the webhook secret comes from the
# payment gateway's dashboard and the ticket signing key (an Ed25519 PEM) is generated
# offline, so neither ever sits in the Terraform state. docs/DEPLOY.md seeds them with
# `aws secretsmanager put-secret-value`. They are not rotated automatically: a new
# webhook secret must be set at the gateway at the same time, and a new signing key
# changes the public key every gate checks tickets with.

resource "aws_secretsmanager_secret" "webhook" {
  name                    = "${var.name_prefix}/webhook-secret"
  description             = "HMAC secret shared with the payment gateway (CONCERTBOOK_WEBHOOK_SECRET_ARN)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret" "ticket_signing_key" {
  name                    = "${var.name_prefix}/ticket-signing-key"
  description             = "Ed25519 private key (PEM) that signs ticket codes (CONCERTBOOK_TICKET_SIGNING_KEY_ARN)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}

locals {
  toss_keys = {
    "toss-secret-key"   = "Toss Payments secret key, live_sk_... (CONCERTBOOK_TOSS_SECRET_KEY_ARN)"
    "toss-security-key" = "Toss Payments security key that signs its payout and seller webhooks (CONCERTBOOK_TOSS_SECURITY_KEY_ARN)"
  }
}

resource "aws_secretsmanager_secret" "toss" {
  for_each                = var.toss_keys ? local.toss_keys : {}
  name                    = "${var.name_prefix}/${each.key}"
  description             = each.value
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}
