terraform {
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }

  # The bootstrap creates the state bucket, so its first apply keeps local state (a
  # backend_override.tf with `backend "local" {}`); afterwards its state moves into the
  # bucket it made (docs/DEPLOY.md, step 1):
  #   terraform init -migrate-state -backend-config="bucket=concertbook-tfstate-<account id>"
  backend "s3" {
    key          = "concertbook/bootstrap/terraform.tfstate"
    region       = "ap-northeast-2"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region              = var.region
  allowed_account_ids = [var.account_id]

  default_tags {
    tags = {
      Project   = "k-concertbook"
      Stage     = "bootstrap"
      ManagedBy = "terraform"
    }
  }
}
