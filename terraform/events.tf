# -----------------------------------------------------------------------------
# EventBridge: the stage tasks' STOPPED events go to the orchestrator. The
# pattern matches this cluster and the three task families only.
# -----------------------------------------------------------------------------

locals {
  task_stopped_pattern = {
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      lastStatus        = ["STOPPED"]
      clusterArn        = [aws_ecs_cluster.this.arn]
      taskDefinitionArn = [for td in aws_ecs_task_definition.stage : { prefix = "${td.arn_without_revision}:" }]
    }
  }
}

resource "aws_cloudwatch_event_rule" "task_stopped" {
  name          = "${var.name_prefix}-task-stopped"
  description   = "cartpipe stage tasks that stopped (exit, failure to start, or stop)"
  event_pattern = jsonencode(local.task_stopped_pattern)
}

resource "aws_cloudwatch_event_target" "orchestrator" {
  rule      = aws_cloudwatch_event_rule.task_stopped.name
  target_id = "orchestrator"
  arn       = aws_lambda_function.orchestrator.arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 20
  }

  dead_letter_config {
    arn = aws_sqs_queue.orchestrator_failures.arn
  }
}

resource "aws_lambda_permission" "events" {
  statement_id  = "AllowTaskStoppedEvents"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.orchestrator.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.task_stopped.arn
}

# -----------------------------------------------------------------------------
# The sweep: every few minutes the orchestrator re-delivers what runs whose
# events were lost are waiting for (src/orchestrator/sweep.ts).
# -----------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "sweep" {
  name                = "${var.name_prefix}-sweep"
  description         = "cartpipe: finish runs whose S3 or task events were lost"
  schedule_expression = "rate(${var.sweep_interval_minutes} minutes)"
}

resource "aws_cloudwatch_event_target" "sweep" {
  rule      = aws_cloudwatch_event_rule.sweep.name
  target_id = "orchestrator"
  arn       = aws_lambda_function.orchestrator.arn
}

resource "aws_lambda_permission" "sweep" {
  statement_id  = "AllowSweepSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.orchestrator.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweep.arn
}
