# OpenSearch (nori is built in): in the VPC behind its group, encrypted at rest and node to
# node, HTTPS with TLS 1.2+, fine-grained access control with an IAM master role and no
# internal users, its logs published; the domain admits the search roles alone.
#
# The access policy is computed by the real aws provider with made-up credentials: every
# resource is overridden (the apply creates nothing and calls no API).

provider "aws" {
  region                      = "ap-northeast-2"
  access_key                  = "terraform-test"
  secret_key                  = "terraform-test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

override_data {
  target = data.aws_caller_identity.current
  values = { account_id = "123456789012" }
}

override_resource {
  target = aws_opensearch_domain.this
  values = {
    arn      = "arn:aws:es:ap-northeast-2:123456789012:domain/cb-test"
    endpoint = "vpc-cb-test-abc.ap-northeast-2.es.amazonaws.com"
  }
}

override_resource {
  target = aws_cloudwatch_log_group.this
  values = { arn = "arn:aws:logs:ap-northeast-2:123456789012:log-group:/aws/opensearch/cb-test" }
}

override_resource {
  target = aws_cloudwatch_log_resource_policy.this
}

override_resource {
  target = aws_opensearch_domain_policy.this
}

variables {
  domain_name       = "cb-test"
  subnet_ids        = ["subnet-private-a", "subnet-private-b", "subnet-private-c"]
  security_group_id = "sg-opensearch"
  kms_key_arn       = "arn:aws:kms:ap-northeast-2:123456789012:key/data"
  logs_kms_key_arn  = "arn:aws:kms:ap-northeast-2:123456789012:key/logs"
  master_role_arn   = "arn:aws:iam::123456789012:role/cb-test-search-admin"
  client_role_arns  = ["arn:aws:iam::123456789012:role/cb-test-fn-api", "arn:aws:iam::123456789012:role/cb-test-fn-indexer"]
}

run "an_encrypted_opensearch_domain_in_the_vpc" {
  command = apply

  assert {
    condition     = startswith(aws_opensearch_domain.this.engine_version, "OpenSearch_")
    error_message = "The domain runs OpenSearch (whose every version has nori built in)."
  }

  assert {
    condition = (
      one(aws_opensearch_domain.this.vpc_options).subnet_ids == toset(["subnet-private-a"]) &&
      one(aws_opensearch_domain.this.vpc_options).security_group_ids == toset([var.security_group_id])
    )
    error_message = "One node sits in one private subnet, in OpenSearch's group."
  }

  assert {
    condition = (
      one(aws_opensearch_domain.this.encrypt_at_rest).enabled &&
      one(aws_opensearch_domain.this.encrypt_at_rest).kms_key_id == var.kms_key_arn &&
      one(aws_opensearch_domain.this.node_to_node_encryption).enabled
    )
    error_message = "Encrypted at rest with the data key and node to node."
  }

  assert {
    condition = (
      one(aws_opensearch_domain.this.domain_endpoint_options).enforce_https &&
      one(aws_opensearch_domain.this.domain_endpoint_options).tls_security_policy == "Policy-Min-TLS-1-2-2019-07"
    )
    error_message = "HTTPS only, TLS 1.2 or later."
  }

  assert {
    condition = (
      one(aws_opensearch_domain.this.advanced_security_options).enabled &&
      !one(aws_opensearch_domain.this.advanced_security_options).internal_user_database_enabled &&
      !one(aws_opensearch_domain.this.advanced_security_options).anonymous_auth_enabled &&
      one(one(aws_opensearch_domain.this.advanced_security_options).master_user_options).master_user_arn == var.master_role_arn
    )
    error_message = "Fine-grained access control with the IAM master role, no internal users, no anonymous access."
  }

  assert {
    condition = toset([for o in aws_opensearch_domain.this.log_publishing_options : o.log_type if o.enabled]) == toset(["INDEX_SLOW_LOGS", "SEARCH_SLOW_LOGS", "ES_APPLICATION_LOGS", "AUDIT_LOGS"]) && alltrue([
      for g in aws_cloudwatch_log_group.this : g.kms_key_id == var.logs_kms_key_arn && g.retention_in_days == 30
    ])
    error_message = "Slow, application and audit logs are published to encrypted log groups that expire."
  }

  assert {
    condition     = output.endpoint_url == "https://vpc-cb-test-abc.ap-northeast-2.es.amazonaws.com"
    error_message = "CONCERTBOOK_OPENSEARCH_URL is the VPC endpoint over HTTPS."
  }
}

run "the_domain_admits_the_search_roles_alone" {
  command = apply

  assert {
    condition = alltrue([for st in jsondecode(aws_opensearch_domain_policy.this.access_policies).Statement : (
      st.Effect == "Allow" &&
      toset(flatten([st.Principal.AWS])) == toset(concat(var.client_role_arns, [var.master_role_arn])) &&
      toset(flatten([st.Action])) == toset(["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete", "es:ESHttpPatch"]) &&
      st.Resource == "arn:aws:es:ap-northeast-2:123456789012:domain/cb-test/*"
    )]) && length(jsondecode(aws_opensearch_domain_policy.this.access_policies).Statement) == 1
    error_message = "Only the API's, the indexer's and the admin's roles call the domain: ${aws_opensearch_domain_policy.this.access_policies}"
  }

  assert {
    condition = alltrue([for s in jsondecode(aws_cloudwatch_log_resource_policy.this.policy_document).Statement :
      s.Principal == { Service = "es.amazonaws.com" } && s.Condition == { StringEquals = { "aws:SourceAccount" = "123456789012" } }
    ])
    error_message = "OpenSearch of this account alone writes the domain's log groups."
  }
}

run "three_nodes_spread_over_three_zones_with_dedicated_masters" {
  command = apply

  variables {
    instance_count        = 3
    dedicated_master_type = "m7g.large.search"
  }

  assert {
    condition = (
      one(aws_opensearch_domain.this.cluster_config).zone_awareness_enabled &&
      one(one(aws_opensearch_domain.this.cluster_config).zone_awareness_config).availability_zone_count == 3 &&
      length(one(aws_opensearch_domain.this.vpc_options).subnet_ids) == 3
    )
    error_message = "Three data nodes spread over three zones."
  }

  assert {
    condition     = one(aws_opensearch_domain.this.cluster_config).dedicated_master_enabled && one(aws_opensearch_domain.this.cluster_config).dedicated_master_count == 3
    error_message = "Three dedicated masters when a master type is given."
  }
}

run "elasticsearch_is_refused" {
  command = plan

  variables {
    engine_version = "Elasticsearch_7.10"
  }

  expect_failures = [var.engine_version]
}

run "a_node_count_the_zones_cannot_share_is_refused" {
  command = plan

  variables {
    instance_count = 5
  }

  expect_failures = [var.instance_count]
}
