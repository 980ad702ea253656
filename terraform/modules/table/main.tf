# The single table of the aws runtime, exactly as `table_definition()` in
# booking/adapters/aws/dynamodb_table.py describes it (tests/infra/test_terraform.py compares
# them): string keys pk/sk, the overloaded GSIs gsi1 and gsi2 projecting everything,
# a stream with both images (the outbox forwarder and the search indexer read it), and
# TTL on `ttl` (sessions, idempotency records, mail markers), as docs/DYNAMODB.md says.
#
# On-demand suits onsales (a quiet table, then minutes of thousands of holds per
# second); PROVISIONED adds target-tracking autoscaling for the table and both indexes.

locals {
  provisioned = var.billing_mode == "PROVISIONED"
  key_names   = ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"]
  indexes     = ["gsi1", "gsi2"]
  # Autoscaled targets: the table and each index, reads and writes.
  scaled = local.provisioned ? merge(
    {
      "table-read"  = { resource = "table/${var.table_name}", dimension = "dynamodb:table:ReadCapacityUnits", metric = "DynamoDBReadCapacityUtilization", min = var.min_read_capacity, max = var.max_read_capacity }
      "table-write" = { resource = "table/${var.table_name}", dimension = "dynamodb:table:WriteCapacityUnits", metric = "DynamoDBWriteCapacityUtilization", min = var.min_write_capacity, max = var.max_write_capacity }
    },
    merge([for index in local.indexes : {
      "${index}-read"  = { resource = "table/${var.table_name}/index/${index}", dimension = "dynamodb:index:ReadCapacityUnits", metric = "DynamoDBReadCapacityUtilization", min = var.min_read_capacity, max = var.max_read_capacity }
      "${index}-write" = { resource = "table/${var.table_name}/index/${index}", dimension = "dynamodb:index:WriteCapacityUnits", metric = "DynamoDBWriteCapacityUtilization", min = var.min_write_capacity, max = var.max_write_capacity }
    }]...)
  ) : {}
}

resource "aws_dynamodb_table" "this" {
  name                        = var.table_name
  billing_mode                = var.billing_mode
  read_capacity               = local.provisioned ? var.min_read_capacity : null
  write_capacity              = local.provisioned ? var.min_write_capacity : null
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = true
  stream_enabled              = true
  stream_view_type            = "NEW_AND_OLD_IMAGES"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  attribute {
    name = "gsi1pk"
    type = "S"
  }

  attribute {
    name = "gsi1sk"
    type = "S"
  }

  attribute {
    name = "gsi2pk"
    type = "S"
  }

  attribute {
    name = "gsi2sk"
    type = "S"
  }

  global_secondary_index {
    name            = "gsi1"
    hash_key        = "gsi1pk"
    range_key       = "gsi1sk"
    projection_type = "ALL"
    read_capacity   = local.provisioned ? var.min_read_capacity : null
    write_capacity  = local.provisioned ? var.min_write_capacity : null
  }

  global_secondary_index {
    name            = "gsi2"
    hash_key        = "gsi2pk"
    range_key       = "gsi2sk"
    projection_type = "ALL"
    read_capacity   = local.provisioned ? var.min_read_capacity : null
    write_capacity  = local.provisioned ? var.min_write_capacity : null
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  lifecycle {
    # Autoscaling owns the table's capacity in PROVISIONED mode. (The indexes' capacity
    # sits inside their blocks and cannot be ignored alone: a plan in PROVISIONED mode
    # shows the autoscaled index capacity going back to the minimum; apply at quiet times.)
    ignore_changes = [read_capacity, write_capacity]
  }
}

resource "aws_appautoscaling_target" "this" {
  for_each           = local.scaled
  service_namespace  = "dynamodb"
  resource_id        = each.value.resource
  scalable_dimension = each.value.dimension
  min_capacity       = each.value.min
  max_capacity       = each.value.max

  depends_on = [aws_dynamodb_table.this]
}

resource "aws_appautoscaling_policy" "this" {
  for_each           = local.scaled
  name               = "${var.table_name}-${each.key}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[each.key].service_namespace
  resource_id        = aws_appautoscaling_target.this[each.key].resource_id
  scalable_dimension = aws_appautoscaling_target.this[each.key].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = var.target_utilization_percent
    predefined_metric_specification {
      predefined_metric_type = each.value.metric
    }
  }
}
