# -----------------------------------------------------------------------------
# Outputs: what `make push`, docs/deploy.md and the cartpipe CLI need.
# -----------------------------------------------------------------------------

output "s3_bucket_name" {
  description = "Pipeline bucket: drop files under incoming/<batch>/, then the manifest at metadata/<batch>.json."
  value       = aws_s3_bucket.this.bucket
}

output "s3_bucket_arn" {
  description = "ARN of the pipeline bucket."
  value       = aws_s3_bucket.this.arn
}

output "lambda_function_name" {
  description = "Name of the orchestrator Lambda."
  value       = aws_lambda_function.orchestrator.function_name
}

output "lambda_log_group_name" {
  description = "Log group of the orchestrator Lambda."
  value       = aws_cloudwatch_log_group.orchestrator.name
}

output "sqs_failure_queue_url" {
  description = "Queue that keeps events the orchestrator could not handle after its retries."
  value       = aws_sqs_queue.orchestrator_failures.id
}

output "ecr_repository_url" {
  description = "ECR repository of the job image (`make push` tags and pushes to it)."
  value       = aws_ecr_repository.this.repository_url
}

output "ecs_cluster_name" {
  description = "ECS cluster that runs the stage tasks."
  value       = aws_ecs_cluster.this.name
}

output "ecs_cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "ecs_task_definition_families" {
  description = "Task definition family of each stage."
  value       = { for stage, td in aws_ecs_task_definition.stage : stage => td.family }
}

output "ecs_task_log_group_names" {
  description = "Log group of each stage's tasks."
  value       = { for stage, lg in aws_cloudwatch_log_group.task : stage => lg.name }
}

output "ecs_task_image" {
  description = "Image the task definitions run."
  value       = "${aws_ecr_repository.this.repository_url}:${var.image_tag}"
}

output "ecs_task_image_tag" {
  description = "Tag of the image the task definitions run (`make plan` reuses it)."
  value       = var.image_tag
}

output "dynamodb_table_names" {
  description = "DynamoDB tables: runs (run state), kpis (KPI rows), history (purchase histories)."
  value = {
    runs    = aws_dynamodb_table.runs.name
    kpis    = aws_dynamodb_table.kpis.name
    history = aws_dynamodb_table.history.name
  }
}

output "sns_topic_arn" {
  description = "Topic of the run notifications."
  value       = aws_sns_topic.this.arn
}

output "glue_database_name" {
  description = "Glue database to select in Athena."
  value       = aws_glue_catalog_database.this.name
}

output "glue_table_names" {
  description = "Glue tables over validated/ and kpis/."
  value       = sort([for t in aws_glue_catalog_table.this : t.name])
}
