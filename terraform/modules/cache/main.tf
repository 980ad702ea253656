# ElastiCache Redis for the seat pre-claim and the availability cache
# (booking/adapters/aws/redis_preclaim.py, redis_availability.py): a replication group in
# the private subnets, TLS in transit, encrypted at rest with the data key, IAM authentication.
# Redis is an accelerator, never the fence: if it fails, requests go straight to the
# table, so one node suffices for dev; prod runs a replica in another zone with failover.
#
# Authentication is IAM (ElastiCache RBAC with `authentication_mode = iam`): the
# functions' roles hold elasticache:Connect on this cache and its user, and each new
# connection signs a 15-minute token (booking/adapters/aws/elasticache_iam.py). Nothing
# secret exists to generate, store in the state, hand to the functions or rotate, which
# a password in Secrets Manager would still need (and ElastiCache's auth_token would
# still copy into the state). The default user every user group must hold is switched off.

resource "aws_elasticache_user" "app" {
  user_id       = "${var.name_prefix}-app"
  user_name     = "${var.name_prefix}-app" # IAM authentication needs user_name = user_id
  engine        = "redis"
  access_string = "on ~* +@all -@dangerous"
  authentication_mode {
    type = "iam"
  }
}

resource "aws_elasticache_user" "default_off" {
  user_id       = "${var.name_prefix}-default"
  user_name     = "default"
  engine        = "redis"
  access_string = "off ~* -@all"
  authentication_mode {
    type = "no-password-required"
  }
}

resource "aws_elasticache_user_group" "this" {
  user_group_id = "${var.name_prefix}-users"
  engine        = "redis"
  user_ids      = [aws_elasticache_user.default_off.user_id, aws_elasticache_user.app.user_id]
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
  user_group_ids             = [aws_elasticache_user_group.this.user_group_id]
  snapshot_retention_limit   = var.snapshot_retention_days
  auto_minor_version_upgrade = true
  apply_immediately          = false
}
