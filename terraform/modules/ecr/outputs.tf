output "repository_urls" {
  description = "Repository URLs by image."
  value       = { for image, repo in aws_ecr_repository.this : image => repo.repository_url }
}

output "repository_arns" {
  description = "Repository ARNs by image."
  value       = { for image, repo in aws_ecr_repository.this : image => repo.arn }
}
