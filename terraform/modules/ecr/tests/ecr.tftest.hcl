# The images' repositories: immutable tags (a tag names one image forever, so pinning a
# function to a tag is a rollback), scanned on push, encrypted with the data key.

mock_provider "aws" {
  source = "../../tests/aws"
}

variables {
  repositories = ["api", "workers", "indexer"]
  kms_key_arn  = "arn:aws:kms:ap-northeast-2:123456789012:key/data"
}

run "immutable_scanned_encrypted_repositories" {
  command = apply

  assert {
    condition     = toset([for r in aws_ecr_repository.this : r.name]) == toset(["concertbook-api", "concertbook-workers", "concertbook-indexer"])
    error_message = "One repository per image, named as docker/build.sh pushes them."
  }

  assert {
    condition = alltrue([for r in aws_ecr_repository.this :
      r.image_tag_mutability == "IMMUTABLE" && one(r.image_scanning_configuration).scan_on_push
    ])
    error_message = "Tags are immutable and images are scanned on push."
  }

  assert {
    condition = alltrue([for r in aws_ecr_repository.this :
      one(r.encryption_configuration).encryption_type == "KMS" && one(r.encryption_configuration).kms_key == var.kms_key_arn
    ])
    error_message = "Images are encrypted with the data key."
  }

  assert {
    condition = alltrue([for name, p in aws_ecr_lifecycle_policy.this :
      p.repository == aws_ecr_repository.this[name].name && jsondecode(p.policy).rules[1].selection.countNumber == 50
    ])
    error_message = "Each repository keeps its newest tagged images for rollbacks."
  }
}

run "keeping_too_few_images_to_roll_back_is_refused" {
  command = plan

  variables {
    keep_images = 1
  }

  expect_failures = [var.keep_images]
}
