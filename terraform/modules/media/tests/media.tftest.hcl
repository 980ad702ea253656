# Posters: nothing public. Both buckets block public access and encrypt; the media bucket
# has no ACLs and admits this distribution alone, under posters/ only, over TLS; uploads
# expire after a day; CloudFront serves HTTPS only and signs its requests (OAC).
#
# The bucket policies are computed by the real aws provider with made-up credentials:
# every resource is overridden (so the apply creates nothing and calls no API), and the
# policy documents, read at apply time once their bucket and distribution exist, come
# from the provider's own code.

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

override_data {
  target = data.aws_cloudfront_cache_policy.caching_optimized
  values = { id = "658327ea-f89d-4fab-a63d-7e88639e58f6" }
}

override_data {
  target = data.aws_cloudfront_response_headers_policy.security_headers
  values = { id = "67f7725c-6f97-4210-82d7-5512b31e9d03" }
}

override_resource {
  target = aws_s3_bucket.media
  values = {
    id                          = "cb-test-media-123456789012"
    arn                         = "arn:aws:s3:::cb-test-media-123456789012"
    bucket_regional_domain_name = "cb-test-media-123456789012.s3.ap-northeast-2.amazonaws.com"
  }
}

override_resource {
  target = aws_s3_bucket.logs
  values = {
    id                 = "cb-test-logs-123456789012"
    arn                = "arn:aws:s3:::cb-test-logs-123456789012"
    bucket_domain_name = "cb-test-logs-123456789012.s3.amazonaws.com"
  }
}

override_resource {
  target = aws_kms_key.media
  values = {
    arn    = "arn:aws:kms:ap-northeast-2:123456789012:key/media"
    key_id = "media"
  }
}

override_resource {
  target = aws_cloudfront_origin_access_control.media
  values = { id = "E2OACMEDIA" }
}

override_resource {
  target = aws_cloudfront_distribution.this
  values = {
    id          = "E1MEDIA"
    arn         = "arn:aws:cloudfront::123456789012:distribution/E1MEDIA"
    domain_name = "d111111abcdef8.cloudfront.net"
  }
}

# The rest: nothing of theirs is asserted beyond what the configuration sets.
override_resource {
  target = aws_kms_alias.media
}

override_resource {
  target = aws_s3_bucket_public_access_block.media
}

override_resource {
  target = aws_s3_bucket_public_access_block.logs
}

override_resource {
  target = aws_s3_bucket_ownership_controls.media
}

override_resource {
  target = aws_s3_bucket_ownership_controls.logs
}

override_resource {
  target = aws_s3_bucket_versioning.media
}

override_resource {
  target = aws_s3_bucket_versioning.logs
}

override_resource {
  target = aws_s3_bucket_server_side_encryption_configuration.media
}

override_resource {
  target = aws_s3_bucket_server_side_encryption_configuration.logs
}

override_resource {
  target = aws_s3_bucket_lifecycle_configuration.media
}

override_resource {
  target = aws_s3_bucket_lifecycle_configuration.logs
}

override_resource {
  target = aws_s3_bucket_cors_configuration.media
}

override_resource {
  target = aws_s3_bucket_logging.media
}

override_resource {
  target = aws_s3_bucket_policy.media
}

override_resource {
  target = aws_s3_bucket_policy.logs
}

variables {
  name_prefix    = "cb-test"
  upload_origins = ["https://concertbook.example"]
}

run "both_buckets_are_private_and_encrypted" {
  command = apply

  assert {
    condition = alltrue([for b in [aws_s3_bucket_public_access_block.media, aws_s3_bucket_public_access_block.logs] :
      b.block_public_acls && b.block_public_policy && b.ignore_public_acls && b.restrict_public_buckets
    ]) && aws_s3_bucket_public_access_block.media.bucket == aws_s3_bucket.media.id && aws_s3_bucket_public_access_block.logs.bucket == aws_s3_bucket.logs.id
    error_message = "Block Public Access (all four) on both buckets."
  }

  assert {
    condition     = one(aws_s3_bucket_ownership_controls.media.rule).object_ownership == "BucketOwnerEnforced"
    error_message = "The media bucket has no ACLs (bucket owner enforced)."
  }

  assert {
    condition = (
      one(one(aws_s3_bucket_server_side_encryption_configuration.media.rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" &&
      one(one(aws_s3_bucket_server_side_encryption_configuration.media.rule).apply_server_side_encryption_by_default).kms_master_key_id == aws_kms_key.media.arn &&
      one(one(aws_s3_bucket_server_side_encryption_configuration.logs.rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    )
    error_message = "Media is encrypted with its KMS key; the logs with SSE-S3 (server access logging cannot write SSE-KMS)."
  }

  assert {
    condition     = aws_kms_key.media.enable_key_rotation
    error_message = "The media key rotates."
  }

  assert {
    condition     = one(aws_s3_bucket_versioning.media.versioning_configuration).status == "Enabled" && aws_s3_bucket_logging.media.target_bucket == aws_s3_bucket.logs.id
    error_message = "The media bucket is versioned and logs its accesses to the log bucket."
  }
}

run "only_this_distribution_reads_posters_and_only_over_tls" {
  command = apply

  assert {
    condition = jsonencode([for s in jsondecode(aws_s3_bucket_policy.media.policy).Statement : s if s.Effect == "Allow"]) == jsonencode([{
      Sid       = "OnlyThisDistributionReadsPosters"
      Effect    = "Allow"
      Action    = "s3:GetObject"
      Resource  = "arn:aws:s3:::cb-test-media-123456789012/posters/*"
      Principal = { Service = "cloudfront.amazonaws.com" }
      Condition = { StringEquals = { "AWS:SourceArn" = "arn:aws:cloudfront::123456789012:distribution/E1MEDIA" } }
    }])
    error_message = "The media bucket admits this distribution alone, under posters/ alone: ${aws_s3_bucket_policy.media.policy}"
  }

  assert {
    condition = alltrue([for p in [aws_s3_bucket_policy.media.policy, aws_s3_bucket_policy.logs.policy] :
      anytrue([for s in jsondecode(p).Statement : s.Effect == "Deny" && s.Action == "s3:*" && s.Condition == { Bool = { "aws:SecureTransport" = "false" } }])
    ])
    error_message = "Both buckets refuse requests without TLS."
  }

  assert {
    condition = alltrue([for s in jsondecode(aws_s3_bucket_policy.logs.policy).Statement :
      s.Principal == { Service = "logging.s3.amazonaws.com" } && s.Condition.StringEquals["aws:SourceAccount"] == "123456789012" && s.Condition.ArnLike["aws:SourceArn"] == aws_s3_bucket.media.arn
      if s.Effect == "Allow"
    ])
    error_message = "The log bucket admits S3's log delivery of the media bucket, for this account, alone."
  }

  assert {
    condition = jsonencode([for s in jsondecode(aws_kms_key.media.policy).Statement : [s.Principal, try(s.Condition, null)]]) == jsonencode([
      [{ AWS = "arn:aws:iam::123456789012:root" }, null],
      [{ Service = "cloudfront.amazonaws.com" }, { StringEquals = { "aws:SourceArn" = "arn:aws:cloudfront::123456789012:distribution/E1MEDIA" } }],
    ])
    error_message = "CloudFront may decrypt posters for this distribution only."
  }
}

run "cloudfront_serves_https_through_origin_access_control" {
  command = apply

  assert {
    condition = alltrue([for b in concat(aws_cloudfront_distribution.this.default_cache_behavior, aws_cloudfront_distribution.this.ordered_cache_behavior) :
      b.viewer_protocol_policy == "redirect-to-https" && b.allowed_methods == toset(["GET", "HEAD"])
    ])
    error_message = "Every behaviour serves HTTPS, reads only."
  }

  assert {
    condition = (
      one(aws_cloudfront_distribution.this.origin).origin_access_control_id == aws_cloudfront_origin_access_control.media.id &&
      one(aws_cloudfront_distribution.this.origin).domain_name == aws_s3_bucket.media.bucket_regional_domain_name &&
      aws_cloudfront_origin_access_control.media.signing_behavior == "always" &&
      aws_cloudfront_origin_access_control.media.signing_protocol == "sigv4"
    )
    error_message = "CloudFront reads the media bucket through Origin Access Control, always signing with SigV4."
  }

  assert {
    condition     = one(aws_cloudfront_distribution.this.logging_config).bucket == aws_s3_bucket.logs.bucket_domain_name
    error_message = "The distribution logs to the log bucket."
  }

  assert {
    condition     = output.base_url == "https://d111111abcdef8.cloudfront.net"
    error_message = "CONCERTBOOK_MEDIA_BASE_URL is the distribution's HTTPS name without a custom domain."
  }
}

run "uploads_expire_after_a_day" {
  command = apply

  assert {
    condition = anytrue([for r in aws_s3_bucket_lifecycle_configuration.media.rule :
      r.status == "Enabled" && try(one(r.filter).prefix, null) == "uploads/" && try(one(r.expiration).days, null) == 1
    ])
    error_message = "Unprocessed uploads expire after a day."
  }

  assert {
    condition = (
      one(aws_s3_bucket_cors_configuration.media.cors_rule).allowed_methods == toset(["POST"]) &&
      one(aws_s3_bucket_cors_configuration.media.cors_rule).allowed_origins == toset(var.upload_origins)
    )
    error_message = "Browsers of the web origins may only POST (presigned uploads)."
  }
}

run "uploads_from_any_origin_are_refused" {
  command = plan

  variables {
    upload_origins = ["*"]
  }

  expect_failures = [var.upload_origins]
}

run "a_certificate_outside_us_east_1_is_refused" {
  command = plan

  variables {
    domain_names        = ["posters.concertbook.example"]
    acm_certificate_arn = "arn:aws:acm:ap-northeast-2:123456789012:certificate/posters"
  }

  expect_failures = [var.acm_certificate_arn]
}
