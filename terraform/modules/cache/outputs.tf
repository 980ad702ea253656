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
  description = "CONCERTBOOK_REDIS_URL: TLS (rediss), AUTH token, database 0."
  value       = "rediss://:${random_password.auth.result}@${aws_elasticache_replication_group.this.primary_endpoint_address}:6379/0"
  sensitive   = true
}
