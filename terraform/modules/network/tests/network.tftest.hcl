# The stage's VPC: a private and a public subnet in each of two or three zones, NAT for the
# private subnets' internet, gateway endpoints (DynamoDB, S3) in their route tables,
# interface endpoints (SQS, Secrets Manager, Logs) with private DNS; Redis, OpenSearch and
# the endpoints admit the Lambdas' group alone, on their port.

mock_provider "aws" {
  source = "../../tests/aws"
}

variables {
  name_prefix           = "cb-test"
  cidr_block            = "10.40.0.0/16"
  availability_zone_ids = ["apne2-az1", "apne2-az3"]
  logs_kms_key_arn      = "arn:aws:kms:ap-northeast-2:123456789012:key/logs"
}

run "a_private_and_a_public_subnet_in_each_zone" {
  command = apply

  assert {
    condition     = tolist(aws_subnet.private[*].availability_zone_id) == var.availability_zone_ids && tolist(aws_subnet.public[*].availability_zone_id) == var.availability_zone_ids
    error_message = "One private and one public subnet per zone."
  }

  assert {
    condition     = alltrue([for s in concat(aws_subnet.private, aws_subnet.public) : s.vpc_id == aws_vpc.this.id && s.map_public_ip_on_launch != true])
    error_message = "No subnet hands out public addresses."
  }

  assert {
    condition     = jsonencode(aws_subnet.private[*].cidr_block) == jsonencode(["10.40.0.0/20", "10.40.16.0/20"])
    error_message = "The private subnets are /20s (Lambda ENIs scale with concurrency)."
  }

  assert {
    condition     = output.private_subnet_ids == aws_subnet.private[*].id
    error_message = "private_subnet_ids are the private subnets."
  }

  assert {
    condition     = aws_vpc.this.enable_dns_support && aws_vpc.this.enable_dns_hostnames
    error_message = "DNS hostnames are on (the interface endpoints' private DNS needs them)."
  }
}

run "private_subnets_reach_the_internet_through_nat_only" {
  command = apply

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && aws_nat_gateway.this[0].subnet_id == aws_subnet.public[0].id && aws_nat_gateway.this[0].allocation_id == aws_eip.nat[0].id
    error_message = "One NAT gateway with its Elastic IP in a public subnet (per zone only with nat_gateway_per_az)."
  }

  assert {
    condition = length(aws_route.private_nat) == length(var.availability_zone_ids) && alltrue([for i, r in aws_route.private_nat :
      r.route_table_id == aws_route_table.private[i].id && r.destination_cidr_block == "0.0.0.0/0" && r.nat_gateway_id == aws_nat_gateway.this[0].id && r.gateway_id == null
    ])
    error_message = "Every private route table sends the internet through the NAT gateway."
  }

  assert {
    condition     = aws_route_table_association.private[*].route_table_id == aws_route_table.private[*].id && aws_route_table_association.private[*].subnet_id == aws_subnet.private[*].id
    error_message = "Each private subnet uses its zone's private route table."
  }

  assert {
    condition     = aws_route.public_internet.gateway_id == aws_internet_gateway.this.id && aws_route.public_internet.route_table_id == aws_route_table.public.id
    error_message = "Only the public route table has the internet gateway."
  }
}

run "one_nat_gateway_per_zone_on_request" {
  command = apply

  variables {
    availability_zone_ids = ["apne2-az1", "apne2-az2", "apne2-az3"]
    nat_gateway_per_az    = true
  }

  assert {
    condition = length(aws_nat_gateway.this) == 3 && alltrue([for i, r in aws_route.private_nat :
      r.nat_gateway_id == aws_nat_gateway.this[i].id && aws_nat_gateway.this[i].subnet_id == aws_subnet.public[i].id
    ])
    error_message = "With nat_gateway_per_az, each zone's private subnet leaves through its own zone's NAT gateway."
  }
}

run "endpoints_keep_aws_traffic_off_the_nat" {
  command = apply

  assert {
    condition = alltrue([for e in [aws_vpc_endpoint.dynamodb, aws_vpc_endpoint.s3] :
      e.vpc_endpoint_type == "Gateway" && e.route_table_ids == toset(aws_route_table.private[*].id)
    ]) && aws_vpc_endpoint.dynamodb.service_name == "com.amazonaws.ap-northeast-2.dynamodb" && aws_vpc_endpoint.s3.service_name == "com.amazonaws.ap-northeast-2.s3"
    error_message = "DynamoDB and S3 through gateway endpoints in every private route table."
  }

  assert {
    condition     = toset([for e in aws_vpc_endpoint.interface : e.service_name]) == toset([for s in ["sqs", "secretsmanager", "logs"] : "com.amazonaws.ap-northeast-2.${s}"])
    error_message = "SQS, Secrets Manager and CloudWatch Logs through interface endpoints."
  }

  assert {
    condition = alltrue([for e in aws_vpc_endpoint.interface :
      e.vpc_endpoint_type == "Interface" && e.private_dns_enabled && e.subnet_ids == toset(aws_subnet.private[*].id) && e.security_group_ids == toset([aws_security_group.endpoints.id])
    ])
    error_message = "Interface endpoints answer the services' own names (private DNS) in the private subnets, behind their group."
  }
}

run "redis_opensearch_and_the_endpoints_admit_only_the_lambdas" {
  command = apply

  assert {
    condition = jsonencode({ for name, rule in {
      redis      = aws_vpc_security_group_ingress_rule.redis_from_lambda
      opensearch = aws_vpc_security_group_ingress_rule.opensearch_from_lambda
      endpoints  = aws_vpc_security_group_ingress_rule.endpoints_from_lambda
      } : name => [rule.security_group_id, rule.referenced_security_group_id, rule.ip_protocol, rule.from_port, rule.to_port, rule.cidr_ipv4, rule.cidr_ipv6, rule.prefix_list_id] }) == jsonencode({
      redis      = [aws_security_group.redis.id, aws_security_group.lambda.id, "tcp", 6379, 6379, null, null, null]
      opensearch = [aws_security_group.opensearch.id, aws_security_group.lambda.id, "tcp", 443, 443, null, null, null]
      endpoints  = [aws_security_group.endpoints.id, aws_security_group.lambda.id, "tcp", 443, 443, null, null, null]
    })
    error_message = "Redis (6379), OpenSearch and the endpoints (443) admit the Lambdas' group alone, no address range."
  }

  assert {
    condition = alltrue([for g in [aws_security_group.lambda, aws_security_group.redis, aws_security_group.opensearch, aws_security_group.endpoints] :
      length(g.ingress) == 0 && g.vpc_id == aws_vpc.this.id
    ])
    error_message = "No group has inline ingress rules (each rule is its own resource)."
  }

  assert {
    condition     = output.lambda_security_group_id == aws_security_group.lambda.id && output.redis_security_group_id == aws_security_group.redis.id && output.opensearch_security_group_id == aws_security_group.opensearch.id
    error_message = "The group outputs name their groups."
  }

  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The VPC's default group admits and sends nothing."
  }
}

run "the_vpc_logs_its_flows" {
  command = apply

  assert {
    condition     = aws_flow_log.this.vpc_id == aws_vpc.this.id && aws_flow_log.this.traffic_type == "ALL" && aws_flow_log.this.log_destination == aws_cloudwatch_log_group.flow.arn
    error_message = "Flow logs of all traffic go to their log group."
  }

  assert {
    condition     = aws_cloudwatch_log_group.flow.kms_key_id == var.logs_kms_key_arn && aws_cloudwatch_log_group.flow.retention_in_days == 30
    error_message = "The flow log group is encrypted and expires."
  }
}

run "one_zone_is_refused" {
  command = plan

  variables {
    availability_zone_ids = ["apne2-az1"]
  }

  expect_failures = [var.availability_zone_ids]
}

run "a_vpc_smaller_than_a_16_is_refused" {
  command = plan

  variables {
    cidr_block = "10.40.0.0/20"
  }

  expect_failures = [var.cidr_block]
}
