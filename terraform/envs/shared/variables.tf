# Shared by every stage root (envs/<stage>/variables.tf links here); stages differ only in terraform.tfvars.

variable "region" {
  type        = string
  description = "AWS region of the stage."
  default     = "ap-northeast-2"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as ap-northeast-2."
  }
}

variable "account_id" {
  type        = string
  description = "The AWS account of this stage; Terraform refuses to touch any other."

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "image_tag" {
  type        = string
  description = "Image tag every function runs (docker/build.sh: the commit)."

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid, immutable tag (not latest)."
  }
}

variable "image_tag_overrides" {
  type        = map(string)
  description = "Per-function image tags that win over image_tag (pin one function back)."
  default     = {}
}

variable "web_origins" {
  type        = list(string)
  description = "Origins of the web front end (API CORS, presigned poster uploads)."

  validation {
    condition     = length(var.web_origins) > 0
    error_message = "web_origins needs at least one origin."
  }
}

variable "mail_from_address" {
  type        = string
  description = "Sender address of the confirmation mail (in the SES identity)."

  validation {
    condition     = can(regex("^[^@<> ]+@[^@<> ]+\\.[a-z]{2,}$", var.mail_from_address))
    error_message = "mail_from_address must be a plain e-mail address."
  }
}

variable "ses_identity" {
  type        = string
  description = "Verified SES identity (domain or address) the mail is sent through."

  validation {
    condition     = length(var.ses_identity) > 3
    error_message = "ses_identity must be a domain or an e-mail address."
  }
}

variable "alarm_emails" {
  type        = list(string)
  description = "Addresses the alarms page."

  validation {
    condition     = length(var.alarm_emails) > 0
    error_message = "alarm_emails needs at least one address."
  }
}

variable "search_admin_principals" {
  type        = list(string)
  description = "IAM principals that may assume the search admin role (with MFA); empty: the account (any principal its IAM policies allow)."
  default     = []
}

variable "payment_provider" {
  type        = string
  description = "simulated (the gateway simulator: no money moves; its webhooks delivered by the gateway-webhooks function) or toss (Toss Payments; seed its two keys as docs/DEPLOY.md says)."
  default     = "simulated"
}
