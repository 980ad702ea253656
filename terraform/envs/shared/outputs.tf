# Shared by every stage root (envs/<stage>/outputs.tf links here).

output "api_url" {
  description = "Base URL of the API."
  value       = module.stack.api_url
}

output "cdn_domain_name" {
  description = "CloudFront domain of the posters."
  value       = module.stack.cdn_domain_name
}

output "table_name" {
  description = "The DynamoDB table."
  value       = module.stack.table_name
}

output "queue_urls" {
  description = "Work queue URLs by name."
  value       = module.stack.queue_urls
}

output "ecr_repository_urls" {
  description = "ECR repository URLs by image."
  value       = module.stack.ecr_repository_urls
}

output "function_names" {
  description = "Function names by function."
  value       = module.stack.function_names
}

output "webhook_secret_arn" {
  description = "Secret to seed with the payment gateway's webhook secret."
  value       = module.stack.webhook_secret_arn
}

output "ticket_signing_key_arn" {
  description = "Secret to seed with the ticket signing key (PEM)."
  value       = module.stack.ticket_signing_key_arn
}

output "search_admin_role_arn" {
  description = "Role that administers the search domain."
  value       = module.stack.search_admin_role_arn
}

output "function_role_arns" {
  description = "Execution roles by function."
  value       = module.stack.function_role_arns
}

output "opensearch_endpoint_url" {
  description = "The search domain's VPC endpoint."
  value       = module.stack.opensearch_endpoint_url
}

output "dashboard_name" {
  description = "The stage's CloudWatch dashboard."
  value       = module.stack.dashboard_name
}

output "toss_secret_key_arn" {
  description = "The Toss Payments secret key's secret (payment_provider toss; null otherwise)."
  value       = module.stack.toss_secret_key_arn
}

output "toss_security_key_arn" {
  description = "The Toss Payments security key's secret (payment_provider toss; null otherwise)."
  value       = module.stack.toss_security_key_arn
}
