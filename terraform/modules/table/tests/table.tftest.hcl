# The table's own contracts: the keys and indexes the code's table_definition() names
# (tests/infra/test_terraform.py compares the planned table with it), both images in the stream,
# TTL on `ttl`, point-in-time recovery, deletion protection, the data key; on-demand by
# default, PROVISIONED with target-tracking autoscaling of the table and each index.

mock_provider "aws" {
  source = "../../tests/aws"
}

variables {
  table_name  = "cb-test"
  kms_key_arn = "arn:aws:kms:ap-northeast-2:123456789012:key/data"
}

run "on_demand_table_with_its_keys_stream_ttl_and_recovery" {
  command = plan

  assert {
    condition     = aws_dynamodb_table.this.hash_key == "pk" && aws_dynamodb_table.this.range_key == "sk"
    error_message = "The table's keys are pk and sk."
  }

  assert {
    condition     = aws_dynamodb_table.this.attribute == toset([for name in ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk"] : { name = name, type = "S" }])
    error_message = "Every key attribute is a string: pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk."
  }

  assert {
    condition = jsonencode({ for index in aws_dynamodb_table.this.global_secondary_index : index.name => [index.hash_key, index.range_key, index.projection_type] }) == jsonencode({
      gsi1 = ["gsi1pk", "gsi1sk", "ALL"]
      gsi2 = ["gsi2pk", "gsi2sk", "ALL"]
    })
    error_message = "Two overloaded indexes, gsi1 and gsi2, projecting every attribute."
  }

  assert {
    condition     = aws_dynamodb_table.this.stream_enabled && aws_dynamodb_table.this.stream_view_type == "NEW_AND_OLD_IMAGES"
    error_message = "The stream carries both images (the forwarder and the indexer read it)."
  }

  assert {
    condition     = one(aws_dynamodb_table.this.ttl).attribute_name == "ttl" && one(aws_dynamodb_table.this.ttl).enabled
    error_message = "TTL on the ttl attribute (docs/DYNAMODB.md)."
  }

  assert {
    condition     = one(aws_dynamodb_table.this.point_in_time_recovery).enabled && aws_dynamodb_table.this.deletion_protection_enabled
    error_message = "Point-in-time recovery and deletion protection are on."
  }

  assert {
    condition     = one(aws_dynamodb_table.this.server_side_encryption).enabled && one(aws_dynamodb_table.this.server_side_encryption).kms_key_arn == var.kms_key_arn
    error_message = "The table is encrypted with the data key."
  }

  assert {
    condition     = aws_dynamodb_table.this.billing_mode == "PAY_PER_REQUEST" && length(aws_appautoscaling_target.this) == 0
    error_message = "On-demand by default, with nothing to autoscale."
  }
}

run "provisioned_capacity_is_autoscaled_for_the_table_and_each_index" {
  command = plan

  variables {
    billing_mode = "PROVISIONED"
  }

  assert {
    condition     = aws_dynamodb_table.this.billing_mode == "PROVISIONED" && aws_dynamodb_table.this.read_capacity == 25 && aws_dynamodb_table.this.write_capacity == 25
    error_message = "PROVISIONED starts at the minimum capacity."
  }

  assert {
    condition = toset([for t in aws_appautoscaling_target.this : "${t.resource_id} ${t.scalable_dimension}"]) == toset(flatten([
      for resource in ["table/cb-test", "table/cb-test/index/gsi1", "table/cb-test/index/gsi2"] : [
        for unit in ["Read", "Write"] : "${resource} dynamodb:${strcontains(resource, "/index/") ? "index" : "table"}:${unit}CapacityUnits"
      ]
    ]))
    error_message = "Reads and writes of the table and of each index are autoscaled."
  }

  assert {
    condition = alltrue([for key, p in aws_appautoscaling_policy.this :
      p.policy_type == "TargetTrackingScaling" && p.target_tracking_scaling_policy_configuration[0].target_value == 70
    ]) && sort(keys(aws_appautoscaling_policy.this)) == sort(keys(aws_appautoscaling_target.this))
    error_message = "Every autoscaled dimension has a target-tracking policy."
  }
}

run "an_unknown_billing_mode_is_refused" {
  command = plan

  variables {
    billing_mode = "ON_DEMAND"
  }

  expect_failures = [var.billing_mode]
}

run "a_maximum_below_the_minimum_is_refused" {
  command = plan

  variables {
    max_write_capacity = 10
  }

  expect_failures = [var.max_write_capacity]
}
