terraform {
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
  }

  # State in the S3 bucket that terraform/bootstrap creates, locked with an S3 lock file
  # (use_lockfile, Terraform >= 1.10; no DynamoDB lock table needed). The bucket name
  # holds the account id, so it is given at init time (docs/DEPLOY.md):
  #   terraform init -backend-config="bucket=concertbook-tfstate-<account id>"
  backend "s3" {
    key          = "concertbook/prod/terraform.tfstate"
    region       = "ap-northeast-2"
    encrypt      = true
    use_lockfile = true
  }
}
