output "domain_name" {
  description = "Domain name (the DomainName dimension of its metrics)."
  value       = aws_opensearch_domain.this.domain_name
}

output "arn" {
  description = "Domain ARN."
  value       = aws_opensearch_domain.this.arn
}

output "endpoint_url" {
  description = "CONCERTBOOK_OPENSEARCH_URL: the VPC endpoint over HTTPS."
  value       = "https://${aws_opensearch_domain.this.endpoint}"
}
