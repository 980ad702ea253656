output "urls" {
  description = "Work queue URLs by name (CONCERTBOOK_QUEUE_URL_<NAME>)."
  value       = { for name, queue in aws_sqs_queue.work : name => queue.url }
}

output "arns" {
  description = "Work queue ARNs by name."
  value       = { for name, queue in aws_sqs_queue.work : name => queue.arn }
}

output "names" {
  description = "Work queue names by name."
  value       = { for name, queue in aws_sqs_queue.work : name => queue.name }
}

output "dlq_arns" {
  description = "Dead-letter queue ARNs by work queue name."
  value       = { for name, queue in aws_sqs_queue.dlq : name => queue.arn }
}

output "dlq_names" {
  description = "Dead-letter queue names by work queue name."
  value       = { for name, queue in aws_sqs_queue.dlq : name => queue.name }
}

output "failure_arns" {
  description = "Failure queue ARNs by function."
  value       = { for name, queue in aws_sqs_queue.failures : name => queue.arn }
}

output "failure_names" {
  description = "Failure queue names by function."
  value       = { for name, queue in aws_sqs_queue.failures : name => queue.name }
}
