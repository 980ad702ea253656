output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "Private subnets (functions, Redis, OpenSearch), one per zone."
  value       = aws_subnet.private[*].id
}

output "lambda_security_group_id" {
  description = "The functions' security group: the only one Redis, OpenSearch and the endpoints admit."
  value       = aws_security_group.lambda.id
}

output "redis_security_group_id" {
  description = "Redis's security group."
  value       = aws_security_group.redis.id
}

output "opensearch_security_group_id" {
  description = "OpenSearch's security group."
  value       = aws_security_group.opensearch.id
}

output "nat_gateway_count" {
  description = "NAT gateways created (cost: each is billed by the hour)."
  value       = local.nat_count
}
