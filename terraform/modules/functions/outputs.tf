output "function_names" {
  description = "Function names by function."
  value       = { for name, f in aws_lambda_function.this : name => f.function_name }
}

output "alias_arns" {
  description = "ARNs of the live aliases by function."
  value       = { for name, a in aws_lambda_alias.live : name => a.arn }
}

output "alias_invoke_arns" {
  description = "Invoke ARNs of the live aliases by function."
  value       = { for name, a in aws_lambda_alias.live : name => a.invoke_arn }
}

output "alias_name" {
  description = "Name of the alias every trigger invokes."
  value       = local.alias
}

output "log_group_names" {
  description = "Log groups by function."
  value       = { for name, g in aws_cloudwatch_log_group.function : name => g.name }
}
