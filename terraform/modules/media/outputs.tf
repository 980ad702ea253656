output "bucket" {
  description = "Media bucket name (CONCERTBOOK_MEDIA_BUCKET)."
  value       = aws_s3_bucket.media.id
}

output "bucket_arn" {
  description = "Media bucket ARN."
  value       = aws_s3_bucket.media.arn
}

output "kms_key_arn" {
  description = "KMS key of the media bucket (functions that read or write media use it)."
  value       = aws_kms_key.media.arn
}

output "cdn_domain_name" {
  description = "The distribution's domain name."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "base_url" {
  description = "CONCERTBOOK_MEDIA_BASE_URL: the first custom domain, else the cloudfront.net name."
  value       = "https://${length(var.domain_names) > 0 ? var.domain_names[0] : aws_cloudfront_distribution.this.domain_name}"
}

output "distribution_id" {
  description = "Distribution id (its metrics and invalidations)."
  value       = aws_cloudfront_distribution.this.id
}
