# -----------------------------------------------------------------------------
# Orchestrator Lambda: the esbuild bundle from `make package`
# (lambdas/orchestrator.ts -> dist/lambda/orchestrator.mjs, zipped).
# -----------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "orchestrator" {
  name              = "/aws/lambda/${local.lambda_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "orchestrator" {
  function_name    = local.lambda_name
  description      = "cartpipe orchestrator: manifest events and stage task STOPPED events drive each run"
  role             = aws_iam_role.lambda.arn
  runtime          = "nodejs22.x"
  handler          = "orchestrator.handler"
  architectures    = [var.lambda_architecture]
  filename         = local.lambda_zip_path
  source_code_hash = filebase64sha256(local.lambda_zip_path)
  memory_size      = var.lambda_memory_mb
  timeout          = var.lambda_timeout_seconds

  environment {
    variables = local.lambda_environment
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.orchestrator.name
  }

  lifecycle {
    # Relaunch waits run inside one invocation; recovery must not redo a launch still running.
    precondition {
      condition     = (var.max_launch_attempts - 1) * var.launch_backoff_max_ms < var.lambda_timeout_seconds * 1000
      error_message = "(max_launch_attempts - 1) x launch_backoff_max_ms must stay under lambda_timeout_seconds."
    }

    precondition {
      condition     = var.recovery_after_seconds > var.lambda_timeout_seconds
      error_message = "recovery_after_seconds must be greater than lambda_timeout_seconds."
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.orchestrator,
    aws_iam_role_policy.lambda,
  ]
}

# -----------------------------------------------------------------------------
# Asynchronous invocations (S3 and EventBridge): bounded retries, then the
# event is kept in a queue for inspection instead of being dropped.
# -----------------------------------------------------------------------------

resource "aws_sqs_queue" "orchestrator_failures" {
  name                      = "${local.lambda_name}-failures"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

data "aws_iam_policy_document" "orchestrator_failures" {
  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.orchestrator_failures.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.task_stopped.arn]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.orchestrator_failures.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "orchestrator_failures" {
  queue_url = aws_sqs_queue.orchestrator_failures.id
  policy    = data.aws_iam_policy_document.orchestrator_failures.json
}

resource "aws_lambda_function_event_invoke_config" "orchestrator" {
  function_name                = aws_lambda_function.orchestrator.function_name
  maximum_retry_attempts       = var.lambda_async_max_retries
  maximum_event_age_in_seconds = var.lambda_async_max_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.orchestrator_failures.arn
    }
  }

  depends_on = [aws_iam_role_policy.lambda]
}
