# Amazon OpenSearch Service for concert search (booking/adapters/aws/opensearch_index.py).
#
# Korean analysis: the index uses the nori analyzer, tokenizer and filters. Amazon
# OpenSearch Service ships analysis-nori built in on every OpenSearch version, so no
# custom package is associated with the domain (the local harness in tools/opensearch
# registers the same names).
#
# In the VPC's private subnets behind a security group that admits 443 from the
# functions only; encrypted at rest (data key), node to node, HTTPS only with TLS 1.2 or
# later; fine-grained access control with an IAM master role (no internal users). The
# resource policy admits only the API's and the indexer's roles and the search admin
# role. Inside OpenSearch, the admin maps the two function roles once (docs/DEPLOY.md):
# the indexer to a role that writes the index and moves the alias, the API to readall.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  logs = toset(["INDEX_SLOW_LOGS", "SEARCH_SLOW_LOGS", "ES_APPLICATION_LOGS", "AUDIT_LOGS"])
  # Data nodes spread over three zones when their count allows it, else two; one node
  # sits in one subnet.
  zones = var.instance_count == 1 ? 1 : (var.instance_count % 3 == 0 && length(var.subnet_ids) >= 3 ? 3 : 2)
}

resource "aws_cloudwatch_log_group" "this" {
  for_each          = local.logs
  name              = "/aws/opensearch/${var.domain_name}/${lower(each.key)}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid     = "OpenSearchWritesItsLogGroups"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    principals {
      type        = "Service"
      identifiers = ["es.amazonaws.com"]
    }
    resources = [for group in aws_cloudwatch_log_group.this : "${group.arn}:*"]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "this" {
  policy_name     = "${var.domain_name}-opensearch-logs"
  policy_document = data.aws_iam_policy_document.logs.json
}

resource "aws_opensearch_domain" "this" {
  domain_name    = var.domain_name
  engine_version = var.engine_version

  cluster_config {
    instance_type            = var.instance_type
    instance_count           = var.instance_count
    zone_awareness_enabled   = var.instance_count > 1
    dedicated_master_enabled = var.dedicated_master_type != null
    dedicated_master_type    = var.dedicated_master_type
    dedicated_master_count   = var.dedicated_master_type != null ? 3 : null

    dynamic "zone_awareness_config" {
      for_each = var.instance_count > 1 ? [1] : []
      content {
        availability_zone_count = local.zones
      }
    }
  }

  ebs_options {
    ebs_enabled = true
    volume_type = "gp3"
    volume_size = var.volume_size_gb
  }

  vpc_options {
    subnet_ids         = slice(var.subnet_ids, 0, local.zones)
    security_group_ids = [var.security_group_id]
  }

  encrypt_at_rest {
    enabled    = true
    kms_key_id = var.kms_key_arn
  }

  node_to_node_encryption {
    enabled = true
  }

  domain_endpoint_options {
    enforce_https       = true
    tls_security_policy = "Policy-Min-TLS-1-2-2019-07"
  }

  advanced_security_options {
    enabled                        = true
    anonymous_auth_enabled         = false
    internal_user_database_enabled = false
    master_user_options {
      master_user_arn = var.master_role_arn
    }
  }

  software_update_options {
    auto_software_update_enabled = true
  }

  log_publishing_options {
    log_type                 = "INDEX_SLOW_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.this["INDEX_SLOW_LOGS"].arn
    enabled                  = true
  }

  log_publishing_options {
    log_type                 = "SEARCH_SLOW_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.this["SEARCH_SLOW_LOGS"].arn
    enabled                  = true
  }

  log_publishing_options {
    log_type                 = "ES_APPLICATION_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.this["ES_APPLICATION_LOGS"].arn
    enabled                  = true
  }

  log_publishing_options {
    log_type                 = "AUDIT_LOGS"
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.this["AUDIT_LOGS"].arn
    enabled                  = true
  }

  depends_on = [aws_cloudwatch_log_resource_policy.this]
}

data "aws_iam_policy_document" "access" {
  statement {
    sid     = "OnlyTheSearchRolesCallTheDomain"
    actions = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete", "es:ESHttpPatch"]
    principals {
      type        = "AWS"
      identifiers = concat(var.client_role_arns, [var.master_role_arn])
    }
    resources = ["${aws_opensearch_domain.this.arn}/*"]
  }
}

resource "aws_opensearch_domain_policy" "this" {
  domain_name     = aws_opensearch_domain.this.domain_name
  access_policies = data.aws_iam_policy_document.access.json
}
