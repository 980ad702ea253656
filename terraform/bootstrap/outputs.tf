output "state_bucket" {
  description = "Bucket to pass as -backend-config=bucket=... to every root."
  value       = aws_s3_bucket.state.id
}

output "plan_role_arn" {
  description = "Role for terraform plan on pull requests."
  value       = aws_iam_role.plan.arn
}

output "deploy_role_arn" {
  description = "Role for image pushes and terraform apply."
  value       = aws_iam_role.deploy.arn
}
