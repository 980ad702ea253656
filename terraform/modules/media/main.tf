# Posters: the private media bucket behind CloudFront (booking/adapters/aws/s3_media.py).
#
#   posters/<sha256>[-<width>].<ext>  immutable, content-addressed images; CloudFront
#                                     reads them through Origin Access Control (SigV4);
#                                     the bucket policy admits that distribution only,
#                                     and only under posters/
#   uploads/<event>/<token>           browsers POST here with a presigned form (CORS below);
#                                     the S3 event worker checks, re-encodes and deletes
#                                     each upload; leftovers expire after a day
#
# Block Public Access is on (all four), ACLs are disabled (bucket owner enforced), every
# object is encrypted with the media key (CloudFront may decrypt, for this distribution
# only), versioning is on, and TLS is required. Access logs of the bucket and of the
# distribution go to the log bucket.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id   = data.aws_caller_identity.current.account_id
  account_root = "arn:${data.aws_partition.current.partition}:iam::${local.account_id}:root"
}

# -- the media bucket ------------------------------------------------------------------
resource "aws_s3_bucket" "media" {
  bucket = "${var.name_prefix}-media-${local.account_id}"
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket                  = aws_s3_bucket.media.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "media" {
  bucket = aws_s3_bucket.media.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_kms_key" "media" {
  description             = "${var.name_prefix}: media bucket (posters, uploads)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersAndDelegatesToIam"
        Effect    = "Allow"
        Principal = { AWS = local.account_root }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "TheDistributionDecryptsPosters"
        Effect    = "Allow"
        Principal = { Service = "cloudfront.amazonaws.com" }
        Action    = ["kms:Decrypt"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceArn" = aws_cloudfront_distribution.this.arn }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "media" {
  name          = "alias/${var.name_prefix}-media"
  target_key_id = aws_kms_key.media.key_id
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.media.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.media.id

  rule {
    id     = "expire-unprocessed-uploads"
    status = "Enabled"
    filter {
      prefix = "uploads/"
    }
    expiration {
      days = 1
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.media]
}

# Browsers POST the presigned form straight to the bucket.
resource "aws_s3_bucket_cors_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  cors_rule {
    allowed_methods = ["POST"]
    allowed_origins = var.upload_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag", "Location"]
    max_age_seconds = 3000
  }
}

resource "aws_s3_bucket_logging" "media" {
  bucket        = aws_s3_bucket.media.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/media/"

  # S3 refuses a log target whose policy does not yet admit the logging service.
  depends_on = [aws_s3_bucket_policy.logs]
}

data "aws_iam_policy_document" "media" {
  statement {
    sid       = "OnlyThisDistributionReadsPosters"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.media.arn}/posters/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.this.arn]
    }
  }

  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.media.arn, "${aws_s3_bucket.media.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "media" {
  bucket = aws_s3_bucket.media.id
  policy = data.aws_iam_policy_document.media.json

  depends_on = [aws_s3_bucket_public_access_block.media]
}

# -- the log bucket --------------------------------------------------------------------
# CloudFront's standard logging writes through the bucket ACL (the awslogsdelivery
# account), so this bucket alone keeps ACLs enabled (object writer preferred); it is
# still private (Block Public Access, no public grant). S3 server access logs need
# SSE-S3 on their target, so this bucket uses AES256 rather than a KMS key.
resource "aws_s3_bucket" "logs" {
  bucket = "${var.name_prefix}-logs-${local.account_id}"
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerPreferred"
  }
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.logs]
}

data "aws_iam_policy_document" "logs" {
  statement {
    sid       = "S3ServerAccessLogsOfTheMediaBucket"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3/media/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.media.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs.json

  depends_on = [aws_s3_bucket_public_access_block.logs]
}

# -- CloudFront ------------------------------------------------------------------------
# AWS's managed policies, looked up by name; an emulator that cannot list them gets the ids
# AWS documents for them (look_up_managed_policies = false, docs/DEPLOY.md).
data "aws_cloudfront_cache_policy" "caching_optimized" {
  count = var.look_up_managed_policies ? 1 : 0
  name  = "Managed-CachingOptimized"
}

data "aws_cloudfront_response_headers_policy" "security_headers" {
  count = var.look_up_managed_policies ? 1 : 0
  name  = "Managed-SecurityHeadersPolicy"
}

locals {
  caching_optimized_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"
  security_headers_id  = "67f7725c-6f97-4210-82d7-5512b31e9d03"
}

resource "aws_cloudfront_origin_access_control" "media" {
  name                              = "${var.name_prefix}-media"
  description                       = "CloudFront signs its requests to the media bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_distribution" "this" {
  enabled         = true
  is_ipv6_enabled = true
  http_version    = "http2and3"
  comment         = "${var.name_prefix} posters"
  price_class     = var.price_class
  aliases         = var.domain_names
  web_acl_id      = var.web_acl_arn

  origin {
    origin_id                = "media"
    domain_name              = aws_s3_bucket.media.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.media.id
  }

  # Posters are the only thing served: the bucket policy refuses every other key, so any
  # other path is a 403 from the origin.
  ordered_cache_behavior {
    path_pattern               = "posters/*"
    target_origin_id           = "media"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = var.look_up_managed_policies ? data.aws_cloudfront_cache_policy.caching_optimized[0].id : local.caching_optimized_id
    response_headers_policy_id = var.look_up_managed_policies ? data.aws_cloudfront_response_headers_policy.security_headers[0].id : local.security_headers_id
  }

  default_cache_behavior {
    target_origin_id           = "media"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = var.look_up_managed_policies ? data.aws_cloudfront_cache_policy.caching_optimized[0].id : local.caching_optimized_id
    response_headers_policy_id = var.look_up_managed_policies ? data.aws_cloudfront_response_headers_policy.security_headers[0].id : local.security_headers_id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    # With a domain of our own: its ACM certificate (us-east-1) and TLS 1.2+. Without,
    # the *.cloudfront.net certificate, whose protocol floor CloudFront fixes.
    cloudfront_default_certificate = var.acm_certificate_arn == null
    acm_certificate_arn            = var.acm_certificate_arn
    ssl_support_method             = var.acm_certificate_arn == null ? null : "sni-only"
    minimum_protocol_version       = var.acm_certificate_arn == null ? "TLSv1" : "TLSv1.2_2021"
  }

  logging_config {
    bucket          = aws_s3_bucket.logs.bucket_domain_name
    prefix          = "cloudfront/"
    include_cookies = false
  }

  depends_on = [aws_s3_bucket_ownership_controls.logs]
}
