# ECR repositories of the function images that docker/build.sh pushes
# (`concertbook-<image>` for api, workers and indexer; docker/functions.json says which
# function runs which image). Tags are immutable, so a tag names one image forever and
# pinning a function to a tag is a rollback; images are scanned on push and encrypted
# with the data key. The lifecycle keeps the last `keep_images` tagged images (enough
# to roll back far) and drops untagged ones after a day.

resource "aws_ecr_repository" "this" {
  for_each             = var.repositories
  name                 = "${var.repository_prefix}${each.key}"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each   = aws_ecr_repository.this
  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Untagged images (superseded build layers) go after a day"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 1
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest tagged images for rollbacks"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.keep_images
        }
        action = { type = "expire" }
      },
    ]
  })
}
