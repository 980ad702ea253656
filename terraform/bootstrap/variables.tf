variable "region" {
  type        = string
  description = "Region of the state bucket (the stages' region)."
  default     = "ap-northeast-2"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as ap-northeast-2."
  }
}

variable "account_id" {
  type        = string
  description = "The AWS account being bootstrapped."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "github_repository" {
  type        = string
  description = "owner/name of the GitHub repository whose workflows may assume the CI roles."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/name."
  }
}

variable "github_environment" {
  type        = string
  description = "Protected GitHub environment whose jobs may deploy to this account (dev or prod)."

  validation {
    condition     = contains(["dev", "prod"], var.github_environment)
    error_message = "github_environment must be dev or prod."
  }
}

variable "create_opensearch_service_linked_role" {
  type        = bool
  description = "Create OpenSearch's service-linked role (false if the account already has it)."
  default     = true
}
