output "webhook_secret_arn" {
  description = "CONCERTBOOK_WEBHOOK_SECRET_ARN."
  value       = aws_secretsmanager_secret.webhook.arn
}

output "ticket_signing_key_arn" {
  description = "CONCERTBOOK_TICKET_SIGNING_KEY_ARN."
  value       = aws_secretsmanager_secret.ticket_signing_key.arn
}

output "toss_secret_key_arn" {
  description = "CONCERTBOOK_TOSS_SECRET_KEY_ARN (null without toss_keys)."
  value       = try(aws_secretsmanager_secret.toss["toss-secret-key"].arn, null)
}

output "toss_security_key_arn" {
  description = "CONCERTBOOK_TOSS_SECURITY_KEY_ARN (null without toss_keys)."
  value       = try(aws_secretsmanager_secret.toss["toss-security-key"].arn, null)
}
