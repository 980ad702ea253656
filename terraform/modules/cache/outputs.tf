output "replication_group_id" {
  description = "Replication group id (its nodes are <id>-001, <id>-002)."
  value       = aws_elasticache_replication_group.this.replication_group_id
}

output "node_ids" {
  description = "Cache cluster ids of the nodes, for per-node metrics."
  value       = [for i in range(aws_elasticache_replication_group.this.num_cache_clusters) : format("%s-%03d", aws_elasticache_replication_group.this.replication_group_id, i + 1)]
}

output "primary_endpoint" {
  description = "Primary endpoint address."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "url" {
  description = "CONCERTBOOK_REDIS_URL: TLS (rediss), the IAM-authenticated user, database 0 (no secret in it)."
  value       = "rediss://${aws_elasticache_user.app.user_name}@${aws_elasticache_replication_group.this.primary_endpoint_address}:6379/0"
}

output "arn" {
  description = "ARN of the replication group (elasticache:Connect)."
  value       = aws_elasticache_replication_group.this.arn
}

output "user_arn" {
  description = "ARN of the IAM-authenticated user (elasticache:Connect)."
  value       = aws_elasticache_user.app.arn
}
