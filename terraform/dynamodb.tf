# -----------------------------------------------------------------------------
# DynamoDB tables (key schemas: src/adapters/aws/tables.ts TABLE_KEYS). On
# demand, point-in-time recovery and encryption at rest set explicitly.
# -----------------------------------------------------------------------------

resource "aws_dynamodb_table" "runs" {
  name                        = "${var.name_prefix}-runs"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "run_id"
  deletion_protection_enabled = var.dynamodb_deletion_protection

  attribute {
    name = "run_id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

resource "aws_dynamodb_table" "kpis" {
  name                        = "${var.name_prefix}-kpis"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "kpi"
  range_key                   = "sk"
  deletion_protection_enabled = var.dynamodb_deletion_protection

  attribute {
    name = "kpi"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

resource "aws_dynamodb_table" "history" {
  name                        = "${var.name_prefix}-history"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.dynamodb_deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}
