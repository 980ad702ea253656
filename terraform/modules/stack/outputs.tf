output "api_url" {
  description = "Base URL of the API."
  value       = module.api.url
}

output "cdn_domain_name" {
  description = "CloudFront domain of the posters."
  value       = module.media.cdn_domain_name
}

output "media_base_url" {
  description = "CONCERTBOOK_MEDIA_BASE_URL."
  value       = module.media.base_url
}

output "media_bucket" {
  description = "The media bucket."
  value       = module.media.bucket
}

output "table_name" {
  description = "The DynamoDB table."
  value       = module.table.name
}

output "queue_urls" {
  description = "Work queue URLs by name."
  value       = module.queues.urls
}

output "ecr_repository_urls" {
  description = "ECR repository URLs by image."
  value       = module.ecr.repository_urls
}

output "function_names" {
  description = "Function names by function."
  value       = module.functions.function_names
}

output "webhook_secret_arn" {
  description = "Secret to seed with the payment gateway's webhook secret."
  value       = module.secrets.webhook_secret_arn
}

output "ticket_signing_key_arn" {
  description = "Secret to seed with the Ed25519 ticket signing key (PEM)."
  value       = module.secrets.ticket_signing_key_arn
}

output "opensearch_endpoint_url" {
  description = "The search domain's VPC endpoint."
  value       = local.search.endpoint_url
}

output "search_admin_role_arn" {
  description = "Role that administers the search domain (fine-grained access control master)."
  value       = module.iam.search_admin_role_arn
}

output "function_role_arns" {
  description = "Execution role ARNs by function (to map in OpenSearch)."
  value       = module.iam.role_arns
}

output "dashboard_name" {
  description = "The stage's CloudWatch dashboard."
  value       = module.observability.dashboard_name
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.observability.alarm_topic_arn
}

output "toss_secret_key_arn" {
  description = "The Toss Payments secret key's secret (payment_provider toss; null otherwise)."
  value       = module.secrets.toss_secret_key_arn
}

output "toss_security_key_arn" {
  description = "The Toss Payments security key's secret (payment_provider toss; null otherwise)."
  value       = module.secrets.toss_security_key_arn
}
