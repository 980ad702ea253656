output "data_key_arn" {
  description = "ARN of the data key (table, queues, secrets, cache, search, images, environments)."
  value       = aws_kms_key.data.arn
}

output "logs_key_arn" {
  description = "ARN of the logs key (CloudWatch Logs, the alarm topic)."
  value       = aws_kms_key.logs.arn
}
