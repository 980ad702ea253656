# ElastiCache Redis: TLS in transit, encrypted at rest with the data key, IAM
# authentication (one IAM user, the default user switched off, no password anywhere),
# in the private subnets behind Redis's group; a replica with failover when multi_az.

mock_provider "aws" {
  source = "../../tests/aws"
}

variables {
  name_prefix       = "cb-test"
  subnet_ids        = ["subnet-private-a", "subnet-private-b"]
  security_group_id = "sg-redis"
  kms_key_arn       = "arn:aws:kms:ap-northeast-2:123456789012:key/data"
}

run "redis_encrypted_with_iam_authentication_only" {
  command = apply

  assert {
    condition     = aws_elasticache_replication_group.this.engine == "redis" && startswith(aws_elasticache_replication_group.this.engine_version, "7.")
    error_message = "Redis 7."
  }

  assert {
    condition = (
      aws_elasticache_replication_group.this.transit_encryption_enabled &&
      aws_elasticache_replication_group.this.at_rest_encryption_enabled &&
      aws_elasticache_replication_group.this.kms_key_id == var.kms_key_arn
    )
    error_message = "TLS in transit, and at rest the data key."
  }

  assert {
    condition     = aws_elasticache_replication_group.this.auth_token == null && aws_elasticache_replication_group.this.user_group_ids == toset([aws_elasticache_user_group.this.user_group_id])
    error_message = "No AUTH token: the users of the group authenticate."
  }

  assert {
    condition = (
      one(aws_elasticache_user.app.authentication_mode).type == "iam" &&
      aws_elasticache_user.app.user_name == aws_elasticache_user.app.user_id &&
      strcontains(aws_elasticache_user.app.access_string, "-@dangerous") &&
      startswith(aws_elasticache_user.app.access_string, "on ")
    )
    error_message = "The functions' user authenticates with IAM (user name = user id), without the dangerous commands."
  }

  assert {
    condition     = aws_elasticache_user.default_off.user_name == "default" && startswith(aws_elasticache_user.default_off.access_string, "off ")
    error_message = "The default user every group must hold is switched off."
  }

  assert {
    condition     = aws_elasticache_user_group.this.user_ids == toset([aws_elasticache_user.default_off.user_id, aws_elasticache_user.app.user_id])
    error_message = "The group holds the default user (off) and the IAM user, nothing else."
  }

  assert {
    condition     = output.url == "rediss://cb-test-app@${aws_elasticache_replication_group.this.primary_endpoint_address}:6379/0"
    error_message = "CONCERTBOOK_REDIS_URL is TLS (rediss), the IAM user and no secret."
  }
}

run "one_node_in_the_private_subnets_behind_its_group" {
  command = apply

  assert {
    condition     = aws_elasticache_subnet_group.this.subnet_ids == toset(var.subnet_ids) && aws_elasticache_replication_group.this.security_group_ids == toset([var.security_group_id])
    error_message = "Redis lives in the private subnets, in Redis's group."
  }

  assert {
    condition     = aws_elasticache_replication_group.this.num_cache_clusters == 1 && !aws_elasticache_replication_group.this.automatic_failover_enabled && output.node_ids == ["cb-test-redis-001"]
    error_message = "One node without multi_az."
  }

  assert {
    condition     = aws_elasticache_replication_group.this.snapshot_retention_limit >= 1
    error_message = "Daily snapshots are kept."
  }
}

run "a_replica_with_failover_in_multi_az" {
  command = apply

  variables {
    multi_az = true
  }

  assert {
    condition = (
      aws_elasticache_replication_group.this.num_cache_clusters == 2 &&
      aws_elasticache_replication_group.this.automatic_failover_enabled &&
      aws_elasticache_replication_group.this.multi_az_enabled &&
      output.node_ids == ["cb-test-redis-001", "cb-test-redis-002"]
    )
    error_message = "multi_az: a replica in a second zone with automatic failover."
  }
}

run "one_subnet_is_refused" {
  command = plan

  variables {
    subnet_ids = ["subnet-private-a"]
  }

  expect_failures = [var.subnet_ids]
}

run "redis_6_is_refused" {
  command = plan

  variables {
    engine_version = "6.2"
  }

  expect_failures = [var.engine_version]
}
