# -----------------------------------------------------------------------------
# Names and contracts shared by several files. The environment maps are the
# single place that says what each consumer receives; test/infra checks their
# keys against src/config.ts (JOB_ENV, ORCHESTRATOR_ENV).
# -----------------------------------------------------------------------------

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = var.aws_region

  bucket_name        = coalesce(var.bucket_name, "${var.name_prefix}-${local.account_id}-${local.region}")
  lambda_name        = "${var.name_prefix}-orchestrator"
  lambda_zip_path    = coalesce(var.lambda_zip_path, "${path.module}/../dist/lambda/orchestrator.zip")
  glue_database_name = coalesce(var.glue_database_name, replace(var.name_prefix, "-", "_"))

  # The stages, in run order (src/contracts/layout.ts STAGES). One task definition each,
  # family "<name_prefix>-<stage>", container "job", command node <flags> dist/jobs/<stage>.js.
  stages         = ["upload", "validate", "compute-kpi"]
  container_name = "job"
  # Each stage's V8 flags (src/workers/heap.ts jobNodeFlags, the image's CMD for upload;
  # test/infra checks they agree). On the command line: V8 refuses --heap-growing-percent in
  # NODE_OPTIONS.
  job_node_flags = {
    upload        = ["--max-semi-space-size=32", "--heap-growing-percent=20"]
    validate      = ["--max-semi-space-size=16", "--heap-growing-percent=20"]
    "compute-kpi" = ["--max-semi-space-size=4", "--heap-growing-percent=20"]
  }

  # The manifest's ObjectCreated event is the only trigger (layout.ts MANIFEST_PREFIX/SUFFIX).
  manifest_prefix = "metadata/"
  manifest_suffix = ".json"

  # Prefixes the jobs write (layout.ts). Never incoming/ or metadata/: no trigger loops.
  output_prefixes = ["raw/", "validated/", "held/", "rejected/", "kpis/", "runs/"]

  # Environment of the orchestrator Lambda: ORCHESTRATOR_ENV without AWS_REGION (the Lambda
  # runtime sets it and reserves the name) and without the AWS_ENDPOINT_URL_* overrides.
  lambda_environment = {
    CARTPIPE_BUCKET                 = aws_s3_bucket.this.bucket
    CARTPIPE_RUNS_TABLE             = aws_dynamodb_table.runs.name
    CARTPIPE_KPI_TABLE              = aws_dynamodb_table.kpis.name
    CARTPIPE_HISTORY_TABLE          = aws_dynamodb_table.history.name
    CARTPIPE_LOG_LEVEL              = var.log_level
    CARTPIPE_TOPIC_ARN              = aws_sns_topic.this.arn
    CARTPIPE_ECS_CLUSTER            = aws_ecs_cluster.this.name
    CARTPIPE_TASK_DEFINITION_PREFIX = var.name_prefix
    CARTPIPE_SUBNETS                = join(",", var.subnet_ids)
    CARTPIPE_SECURITY_GROUPS        = join(",", var.security_group_ids)
    CARTPIPE_ASSIGN_PUBLIC_IP       = var.assign_public_ip ? "ENABLED" : "DISABLED"
    CARTPIPE_MAX_LAUNCH_ATTEMPTS    = tostring(var.max_launch_attempts)
    CARTPIPE_LAUNCH_BACKOFF_MS      = tostring(var.launch_backoff_ms)
    CARTPIPE_LAUNCH_BACKOFF_MAX_MS  = tostring(var.launch_backoff_max_ms)
    CARTPIPE_RECOVERY_AFTER_SECONDS = tostring(var.recovery_after_seconds)
    CARTPIPE_STAGE_TIMEOUT_SECONDS  = tostring(var.stage_timeout_seconds)
    CARTPIPE_MAX_MANIFEST_BYTES     = tostring(var.max_manifest_bytes)
    CARTPIPE_MAX_MANIFEST_FILES     = tostring(var.max_manifest_files)
    CARTPIPE_AWS_MAX_ATTEMPTS       = tostring(var.aws_max_attempts)
    CARTPIPE_AWS_CONNECT_TIMEOUT_MS = tostring(var.aws_connect_timeout_ms)
    CARTPIPE_AWS_SOCKET_TIMEOUT_MS  = tostring(var.aws_socket_timeout_ms)
  }

  # Environment of every stage task: JOB_ENV without RUN_ID (the orchestrator passes it as a
  # container override per run) and without the AWS_ENDPOINT_URL_* overrides. Blank values
  # are left out of the task definitions (ecs.tf).
  job_environment = {
    AWS_REGION                      = local.region
    CARTPIPE_BUCKET                 = aws_s3_bucket.this.bucket
    CARTPIPE_RUNS_TABLE             = aws_dynamodb_table.runs.name
    CARTPIPE_KPI_TABLE              = aws_dynamodb_table.kpis.name
    CARTPIPE_HISTORY_TABLE          = aws_dynamodb_table.history.name
    CARTPIPE_LOG_LEVEL              = var.log_level
    CARTPIPE_TIME_ZONE              = var.time_zone
    CARTPIPE_REJECT_THRESHOLD       = tostring(var.reject_threshold)
    CARTPIPE_ROWS_PER_PART          = tostring(var.rows_per_part)
    CARTPIPE_MAX_FILE_BYTES         = tostring(var.max_file_bytes)
    CARTPIPE_MAX_FIELD_CHARS        = tostring(var.max_field_chars)
    CARTPIPE_MAX_ROW_CHARS          = tostring(var.max_row_chars)
    CARTPIPE_STAGE_TIMEOUT_SECONDS  = tostring(var.stage_timeout_seconds)
    CARTPIPE_WORKERS                = tostring(var.stage_workers)
    CARTPIPE_VALIDATE_BUCKET_BYTES  = tostring(var.validate_bucket_bytes)
    CARTPIPE_AGGREGATIONS_FILE      = var.aggregations_file
    CARTPIPE_AWS_MAX_ATTEMPTS       = tostring(var.aws_max_attempts)
    CARTPIPE_AWS_CONNECT_TIMEOUT_MS = tostring(var.aws_connect_timeout_ms)
    CARTPIPE_AWS_SOCKET_TIMEOUT_MS  = tostring(var.aws_socket_timeout_ms)
  }
}
