output "api_id" {
  description = "HTTP API id (the ApiId dimension of its metrics)."
  value       = aws_apigatewayv2_api.this.id
}

output "stage_name" {
  description = "Stage name ($default)."
  value       = aws_apigatewayv2_stage.default.name
}

output "url" {
  description = "Base URL of the API (append /api/v1/...)."
  value       = aws_apigatewayv2_stage.default.invoke_url
}
