# ElastiCache Redis for the seat pre-claim and the availability cache
# (booking/adapters/aws/redis_preclaim.py, redis_availability.py): a replication group in
# the private subnets, TLS in transit, encrypted at rest with the data key, AUTH token.
# Redis is an accelerator, never the fence: if it fails, requests go straight to the
# table, so one node suffices for dev; prod runs a replica in another zone with failover.
#
# The AUTH token is generated here (random_password). The application reads Redis from
# CONCERTBOOK_REDIS_URL, which carries the token, so the URL is output (sensitive) for
# the functions' environment, which Lambda encrypts with the data key; the token also
# sits in the Terraform state, which is encrypted with the state bucket's key and
# readable only by the CI roles. A second copy in Secrets Manager would add nothing the
# state does not already hold (and the application has no setting to read it from).

resource "random_password" "auth" {
  length  = 64
  special = false # keeps the token URL-safe inside rediss://:<token>@host
}

resource "aws_elasticache_subnet_group" "this" {
  name       = "${var.name_prefix}-redis"
  subnet_ids = var.subnet_ids
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id       = "${var.name_prefix}-redis"
  description                = "K-ConcertBook seat pre-claim and availability cache"
  engine                     = "redis"
  engine_version             = var.engine_version
  node_type                  = var.node_type
  port                       = 6379
  num_cache_clusters         = var.multi_az ? 2 : 1
  automatic_failover_enabled = var.multi_az
  multi_az_enabled           = var.multi_az
  subnet_group_name          = aws_elasticache_subnet_group.this.name
  security_group_ids         = [var.security_group_id]
  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  auth_token                 = random_password.auth.result
  auth_token_update_strategy = "ROTATE"
  snapshot_retention_limit   = var.snapshot_retention_days
  auto_minor_version_upgrade = true
  apply_immediately          = false
}
