# -----------------------------------------------------------------------------
# IAM: three roles, each least-privilege and resource-scoped.
#   lambda          the orchestrator (run state, RunTask, notifications)
#   task_execution  what ECS itself needs to start a task (image pull, logs)
#   task            what the jobs' code calls (S3 outputs, KPI and history tables)
# test/infra/iam-drift.test.ts derives the SDK commands each role's code sends
# and fails when an action here is missing or unused.
# -----------------------------------------------------------------------------

locals {
  bucket_objects_arn = "${aws_s3_bucket.this.arn}/*"
  output_object_arns = [for p in local.output_prefixes : "${aws_s3_bucket.this.arn}/${p}*"]
  task_read_arns     = [for p in concat(["incoming/"], local.output_prefixes) : "${aws_s3_bucket.this.arn}/${p}*"]
}

# -----------------------------------------------------------------------------
# Orchestrator Lambda
# -----------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    sid     = "LambdaAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "lambda" {
  name               = "${var.name_prefix}-orchestrator"
  description        = "cartpipe orchestrator Lambda"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

data "aws_iam_policy_document" "lambda" {
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.orchestrator.arn}:*"]
  }

  statement {
    sid       = "SendFailedEventsToQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.orchestrator_failures.arn]
  }

  # ListBucket also makes S3 answer 404 (not 403) for a missing key, which the adapters rely on.
  statement {
    sid       = "ListBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this.arn]
  }

  statement {
    sid       = "ReadManifestsAndReports"
    actions   = ["s3:GetObject"]
    resources = [local.bucket_objects_arn]
  }

  # The run's manifest copy and report under runs/<run_id>/. The S3 adapter the orchestrator
  # shares with the jobs can also delete and upload in parts: allowed, but only under runs/.
  statement {
    sid       = "WriteRunRecords"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.this.arn}/runs/*"]
  }

  # Run state: conditional puts on the expected previous version, consistent reads; the
  # scheduled sweep scans for runs whose events were lost.
  statement {
    sid       = "RunStateTable"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan"]
    resources = [aws_dynamodb_table.runs.arn]
  }

  statement {
    sid       = "RunStageTasks"
    actions   = ["ecs:RunTask"]
    resources = [for td in aws_ecs_task_definition.stage : "${td.arn_without_revision}:*"]

    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.this.arn]
    }
  }

  statement {
    sid       = "PassTaskRolesToEcs"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.task_execution.arn, aws_iam_role.task.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "PublishRunNotifications"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this.arn]
  }
}

resource "aws_iam_role_policy" "lambda" {
  name   = "orchestrator"
  role   = aws_iam_role.lambda.id
  policy = data.aws_iam_policy_document.lambda.json
}

# -----------------------------------------------------------------------------
# Stage tasks: both roles are assumed by ECS tasks of this account only.
# -----------------------------------------------------------------------------

data "aws_iam_policy_document" "task_assume" {
  statement {
    sid     = "EcsTasksAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "task_execution" {
  name               = "${var.name_prefix}-task-execution"
  description        = "ECS agent for the cartpipe stage tasks: image pull and logs"
  assume_role_policy = data.aws_iam_policy_document.task_assume.json
}

data "aws_iam_policy_document" "task_execution" {
  # GetAuthorizationToken has no resource-level permissions.
  statement {
    sid       = "EcrAuthorizationToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullJobImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = [aws_ecr_repository.this.arn]
  }

  statement {
    sid       = "WriteTaskLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for lg in aws_cloudwatch_log_group.task : "${lg.arn}:*"]
  }
}

resource "aws_iam_role_policy" "task_execution" {
  name   = "task-execution"
  role   = aws_iam_role.task_execution.id
  policy = data.aws_iam_policy_document.task_execution.json
}

resource "aws_iam_role" "task" {
  name               = "${var.name_prefix}-task"
  description        = "cartpipe stage jobs (upload, validate, compute-kpi)"
  assume_role_policy = data.aws_iam_policy_document.task_assume.json
}

data "aws_iam_policy_document" "task" {
  # ListBucket also makes S3 answer 404 (not 403) for a missing key, which the adapters rely on.
  statement {
    sid       = "ListBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this.arn]
  }

  # Inputs under incoming/ and every output area; never metadata/.
  statement {
    sid       = "ReadInputsAndOutputs"
    actions   = ["s3:GetObject"]
    resources = local.task_read_arns
  }

  statement {
    sid       = "WriteOutputs"
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = local.output_object_arns
  }

  # Re-runs replace a run's outputs; released held rows are removed.
  statement {
    sid       = "ReplaceOutputs"
    actions   = ["s3:DeleteObject"]
    resources = local.output_object_arns
  }

  # KPI rows (compute-kpi) and purchase histories (online-retail), replaced as whole items.
  statement {
    sid       = "KpiAndHistoryTables"
    actions   = ["dynamodb:Query", "dynamodb:BatchWriteItem"]
    resources = [aws_dynamodb_table.kpis.arn, aws_dynamodb_table.history.arn]
  }

  # compute-kpi: the per-date lease (a conditional put, deleted when the date is done) and each
  # date's rows replaced in one transaction (authorised as its puts and deletes).
  statement {
    sid       = "KpiLeasesAndTransactions"
    actions   = ["dynamodb:PutItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.kpis.arn]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "jobs"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}
