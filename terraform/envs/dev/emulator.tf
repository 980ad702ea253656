# Only for applying this root to an AWS emulator (docs/DEPLOY.md, "Applying against an
# emulator"; tests/infra/test_terraform_apply.py): the parts it cannot create, or would run
# itself. Empty on AWS.
variable "emulator_unsupported" {
  type        = set(string)
  description = "Parts left out on an emulator: elasticache, opensearch, cloudfront-managed-policies, sqs-redrive-allow-policy, stream-event-source-mappings."
  default     = []
}
