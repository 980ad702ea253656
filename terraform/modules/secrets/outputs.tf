output "webhook_secret_arn" {
  description = "CONCERTBOOK_WEBHOOK_SECRET_ARN."
  value       = aws_secretsmanager_secret.webhook.arn
}

output "ticket_signing_key_arn" {
  description = "CONCERTBOOK_TICKET_SIGNING_KEY_ARN."
  value       = aws_secretsmanager_secret.ticket_signing_key.arn
}
