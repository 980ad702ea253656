output "role_arns" {
  description = "Execution role ARNs by function."
  value       = { for name, role in aws_iam_role.function : name => role.arn }
}

output "role_names" {
  description = "Execution role names by function."
  value       = { for name, role in aws_iam_role.function : name => role.name }
}

output "search_admin_role_arn" {
  description = "ARN of the search admin role (OpenSearch master user)."
  value       = aws_iam_role.search_admin.arn
}
