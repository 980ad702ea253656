# The account's bootstrap: a private, versioned, KMS-encrypted state bucket that refuses
# plain HTTP; GitHub Actions roles that only this repository's pull requests (plan, read
# only) and its protected environment (deploy) can assume, the deploy role's IAM limited
# to the stage's own roles.
#
# The policies are computed by the real aws provider with made-up credentials; every
# resource is overridden, so an apply creates nothing and calls no API. Only the CI roles
# are applied (plan_options.target): the state bucket's prevent_destroy would fail the
# test's clean-up, so the bucket and the documents that name it are planned only.

provider "aws" {
  region                      = "ap-northeast-2"
  access_key                  = "terraform-test"
  secret_key                  = "terraform-test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}

override_resource {
  target          = aws_kms_key.state
  override_during = plan
  values          = { arn = "arn:aws:kms:ap-northeast-2:123456789012:key/state" }
}

override_resource {
  target          = aws_s3_bucket.state
  override_during = plan
  values = {
    id  = "concertbook-tfstate-123456789012"
    arn = "arn:aws:s3:::concertbook-tfstate-123456789012"
  }
}

override_resource {
  target = aws_iam_openid_connect_provider.github
  values = { arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
}

override_resource {
  target = aws_iam_role.plan
  values = { id = "concertbook-ci-plan", name = "concertbook-ci-plan" }
}

override_resource {
  target = aws_iam_role.deploy
  values = { id = "concertbook-ci-deploy", name = "concertbook-ci-deploy" }
}

override_resource {
  target = aws_s3_bucket_public_access_block.state
}

override_resource {
  target = aws_s3_bucket_ownership_controls.state
}

override_resource {
  target = aws_s3_bucket_versioning.state
}

override_resource {
  target = aws_s3_bucket_server_side_encryption_configuration.state
}

override_resource {
  target = aws_s3_bucket_lifecycle_configuration.state
}

override_resource {
  target = aws_s3_bucket_policy.state
}

override_resource {
  target = aws_iam_service_linked_role.opensearch
}

override_resource {
  target = aws_iam_role_policy_attachment.plan_read_only
}

override_resource {
  target = aws_iam_role_policy_attachment.deploy_power_user
}

override_resource {
  target = aws_iam_role_policy.plan_state
}

override_resource {
  target = aws_iam_role_policy.deploy_state
}

override_resource {
  target = aws_iam_role_policy.deploy_iam
}

variables {
  account_id         = "123456789012"
  github_repository  = "example/k-concertbook"
  github_environment = "dev"
}

run "a_private_encrypted_state_bucket" {
  command = plan

  assert {
    condition = (
      aws_s3_bucket_public_access_block.state.block_public_acls && aws_s3_bucket_public_access_block.state.block_public_policy &&
      aws_s3_bucket_public_access_block.state.ignore_public_acls && aws_s3_bucket_public_access_block.state.restrict_public_buckets &&
      one(aws_s3_bucket_ownership_controls.state.rule).object_ownership == "BucketOwnerEnforced"
    )
    error_message = "The state bucket blocks public access (all four) and has no ACLs."
  }

  assert {
    condition = (
      one(one(aws_s3_bucket_server_side_encryption_configuration.state.rule).apply_server_side_encryption_by_default).kms_master_key_id == aws_kms_key.state.arn &&
      aws_kms_key.state.enable_key_rotation &&
      one(aws_s3_bucket_versioning.state.versioning_configuration).status == "Enabled"
    )
    error_message = "States are versioned and encrypted with a rotated KMS key."
  }
}

run "only_this_repository_assumes_the_ci_roles" {
  command = apply

  plan_options {
    target = [aws_iam_role.plan, aws_iam_role.deploy, aws_iam_role_policy.deploy_iam, aws_iam_role_policy_attachment.plan_read_only]
  }

  assert {
    condition = jsonencode(jsondecode(aws_iam_role.plan.assume_role_policy).Statement[0].Condition) == jsonencode({
      StringEquals = {
        "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
        "token.actions.githubusercontent.com:sub" = "repo:example/k-concertbook:pull_request"
      }
    }) && jsondecode(aws_iam_role.plan.assume_role_policy).Statement[0].Principal.Federated == aws_iam_openid_connect_provider.github.arn
    error_message = "The plan role trusts this repository's pull requests alone, through GitHub's OIDC provider."
  }

  assert {
    condition = jsonencode(jsondecode(aws_iam_role.deploy.assume_role_policy).Statement[0].Condition) == jsonencode({
      StringEquals = {
        "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
        "token.actions.githubusercontent.com:sub" = "repo:example/k-concertbook:environment:dev"
      }
    })
    error_message = "The deploy role trusts this repository's jobs in the stage's environment alone."
  }

  assert {
    condition = alltrue([for s in jsondecode(aws_iam_role_policy.deploy_iam.policy).Statement :
      flatten([s.Resource]) == ["arn:aws:iam::123456789012:role/concertbook-*"]
      ]) && anytrue([for s in jsondecode(aws_iam_role_policy.deploy_iam.policy).Statement :
      s.Action == "iam:PassRole" && toset(try(s.Condition.StringEquals["iam:PassedToService"], [])) == toset(["lambda.amazonaws.com", "vpc-flow-logs.amazonaws.com"])
    ])
    error_message = "The deploy role's IAM reaches the stage's own roles only, passed to Lambda and flow logs only."
  }

  assert {
    condition     = aws_iam_role_policy_attachment.plan_read_only.policy_arn == "arn:aws:iam::aws:policy/ReadOnlyAccess" && aws_iam_role_policy_attachment.plan_read_only.role == aws_iam_role.plan.name
    error_message = "The plan role reads only (ReadOnlyAccess)."
  }
}

run "a_repository_that_is_not_owner_slash_name_is_refused" {
  command = plan

  variables {
    github_repository = "*"
  }

  expect_failures = [var.github_repository]
}
