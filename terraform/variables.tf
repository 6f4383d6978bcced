# -----------------------------------------------------------------------------
# General
# -----------------------------------------------------------------------------

variable "aws_region" {
  description = "AWS region of every resource of the stack (bucket, tables, cluster, Lambda)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region code such as us-east-1 or eu-west-3."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name. Task definition families are \"<name_prefix>-<stage>\", which the orchestrator receives as CARTPIPE_TASK_DEFINITION_PREFIX."
  type        = string
  default     = "cartpipe"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-24 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource (merged into the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of the Lambda and task log groups, in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

# -----------------------------------------------------------------------------
# Bucket
# -----------------------------------------------------------------------------

variable "bucket_name" {
  description = "Name of the pipeline bucket. Null derives \"<name_prefix>-<account id>-<region>\", which is globally unique."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."
  }
}

variable "bucket_force_destroy" {
  description = "Let `terraform destroy` delete the bucket with its objects. Keep false outside throw-away stacks."
  type        = bool
  default     = false
}

variable "incoming_expiration_days" {
  description = "Days after which the files users dropped under incoming/ expire (their typed copy stays under raw/ and validated/)."
  type        = number
  default     = 30

  validation {
    condition     = var.incoming_expiration_days >= 1 && floor(var.incoming_expiration_days) == var.incoming_expiration_days
    error_message = "incoming_expiration_days must be a whole number of days, at least 1."
  }
}

variable "raw_expiration_days" {
  description = "Days after which upload's raw Parquet under raw/ expires (validate has consumed it by then)."
  type        = number
  default     = 90

  validation {
    condition     = var.raw_expiration_days >= 1 && floor(var.raw_expiration_days) == var.raw_expiration_days
    error_message = "raw_expiration_days must be a whole number of days, at least 1."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which overwritten or deleted object versions are removed (the bucket is versioned)."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

# -----------------------------------------------------------------------------
# Orchestrator Lambda
# -----------------------------------------------------------------------------

variable "lambda_zip_path" {
  description = "Path of the orchestrator bundle built by `make package`. Null means ../dist/lambda/orchestrator.zip relative to this module."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_zip_path == null || can(regex("\\.zip$", var.lambda_zip_path))
    error_message = "lambda_zip_path must name a .zip file."
  }
}

variable "lambda_architecture" {
  description = "Instruction set of the orchestrator Lambda. The bundle is plain JavaScript, so arm64 (cheaper) is the default."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "lambda_memory_mb" {
  description = "Memory of the orchestrator Lambda, in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be between 128 and 10240."
  }
}

variable "lambda_timeout_seconds" {
  description = "Timeout of one orchestrator invocation, in seconds (it only writes state and calls RunTask or Publish)."
  type        = number
  default     = 60

  validation {
    condition     = var.lambda_timeout_seconds >= 3 && var.lambda_timeout_seconds <= 900
    error_message = "lambda_timeout_seconds must be between 3 and 900."
  }
}

variable "lambda_async_max_retries" {
  description = "Retries of a failed asynchronous invocation (S3 and EventBridge events) before it goes to the failure queue."
  type        = number
  default     = 2

  validation {
    condition     = contains([0, 1, 2], var.lambda_async_max_retries)
    error_message = "lambda_async_max_retries must be 0, 1 or 2."
  }
}

variable "lambda_async_max_event_age_seconds" {
  description = "Age after which an event still waiting for the orchestrator is sent to the failure queue, in seconds."
  type        = number
  default     = 3600

  validation {
    condition     = var.lambda_async_max_event_age_seconds >= 60 && var.lambda_async_max_event_age_seconds <= 21600
    error_message = "lambda_async_max_event_age_seconds must be between 60 and 21600."
  }
}

variable "max_launch_attempts" {
  description = "Launches of a stage task that never starts (capacity, image pull) before the run fails (CARTPIPE_MAX_LAUNCH_ATTEMPTS)."
  type        = number
  default     = 3

  validation {
    condition     = var.max_launch_attempts >= 1 && var.max_launch_attempts <= 10 && floor(var.max_launch_attempts) == var.max_launch_attempts
    error_message = "max_launch_attempts must be a whole number between 1 and 10."
  }
}

variable "launch_backoff_ms" {
  description = "First wait before relaunching a task that never started, in ms (random up to this, doubling per attempt; CARTPIPE_LAUNCH_BACKOFF_MS)."
  type        = number
  default     = 2000

  validation {
    condition     = var.launch_backoff_ms >= 1 && floor(var.launch_backoff_ms) == var.launch_backoff_ms
    error_message = "launch_backoff_ms must be a positive whole number of milliseconds."
  }
}

variable "launch_backoff_max_ms" {
  description = "Longest single wait before a relaunch, in ms (CARTPIPE_LAUNCH_BACKOFF_MAX_MS). The waits happen inside one invocation: (max_launch_attempts - 1) x this must stay under lambda_timeout_seconds."
  type        = number
  default     = 15000

  validation {
    condition     = var.launch_backoff_max_ms >= 1 && floor(var.launch_backoff_max_ms) == var.launch_backoff_max_ms
    error_message = "launch_backoff_max_ms must be a positive whole number of milliseconds."
  }
}

variable "recovery_after_seconds" {
  description = "Age after which a launch or notification left unfinished is redone by the next event of its run, in seconds (CARTPIPE_RECOVERY_AFTER_SECONDS). Must exceed lambda_timeout_seconds."
  type        = number
  default     = 90

  validation {
    condition     = var.recovery_after_seconds >= 1 && floor(var.recovery_after_seconds) == var.recovery_after_seconds
    error_message = "recovery_after_seconds must be a positive whole number of seconds."
  }
}

variable "sweep_interval_minutes" {
  description = "Minutes between sweeps for runs whose events were lost (an EventBridge schedule invoking the orchestrator)."
  type        = number
  default     = 5

  validation {
    condition     = var.sweep_interval_minutes >= 2 && floor(var.sweep_interval_minutes) == var.sweep_interval_minutes
    error_message = "sweep_interval_minutes must be a whole number of minutes, at least 2."
  }
}

variable "max_manifest_bytes" {
  description = "Largest manifest accepted, in bytes; a larger one fails its run before it is read (CARTPIPE_MAX_MANIFEST_BYTES)."
  type        = number
  default     = 1048576

  validation {
    condition     = var.max_manifest_bytes >= 1 && floor(var.max_manifest_bytes) == var.max_manifest_bytes
    error_message = "max_manifest_bytes must be a positive whole number."
  }
}

variable "max_manifest_files" {
  description = "Most files one manifest (or its batch folder) may name; more fails the run (CARTPIPE_MAX_MANIFEST_FILES). Each is checked with a HEAD inside one Lambda invocation."
  type        = number
  default     = 1000

  validation {
    condition     = var.max_manifest_files >= 1 && floor(var.max_manifest_files) == var.max_manifest_files
    error_message = "max_manifest_files must be a positive whole number."
  }
}

variable "aws_max_attempts" {
  description = "Tries of one S3, DynamoDB, SNS or ECS call on throttling, 5xx, timeouts and dropped connections, with the SDK's backoff and jitter (CARTPIPE_AWS_MAX_ATTEMPTS)."
  type        = number
  default     = 6

  validation {
    condition     = var.aws_max_attempts >= 1 && floor(var.aws_max_attempts) == var.aws_max_attempts
    error_message = "aws_max_attempts must be a positive whole number."
  }
}

variable "aws_connect_timeout_ms" {
  description = "An AWS connection not open after this long is abandoned and retried, in ms (CARTPIPE_AWS_CONNECT_TIMEOUT_MS)."
  type        = number
  default     = 5000

  validation {
    condition     = var.aws_connect_timeout_ms >= 1 && floor(var.aws_connect_timeout_ms) == var.aws_connect_timeout_ms
    error_message = "aws_connect_timeout_ms must be a positive whole number."
  }
}

variable "aws_socket_timeout_ms" {
  description = "An AWS request that sends or receives nothing for this long is abandoned and retried, in ms (CARTPIPE_AWS_SOCKET_TIMEOUT_MS)."
  type        = number
  default     = 60000

  validation {
    condition     = var.aws_socket_timeout_ms >= 1 && floor(var.aws_socket_timeout_ms) == var.aws_socket_timeout_ms
    error_message = "aws_socket_timeout_ms must be a positive whole number."
  }
}

# -----------------------------------------------------------------------------
# Container image and stage tasks
# -----------------------------------------------------------------------------

variable "image_tag" {
  description = "Tag of the job image in the ECR repository. `make push` writes it to dist/image-tag and `make deploy` passes it; no default because tags are immutable."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a Docker tag: letters, digits, _ . - (at most 128 characters)."
  }
}

variable "ecr_image_tag_mutability" {
  description = "Tag mutability of the ECR repository. IMMUTABLE keeps a task definition's image from changing under it."
  type        = string
  default     = "IMMUTABLE"

  validation {
    condition     = contains(["MUTABLE", "IMMUTABLE"], var.ecr_image_tag_mutability)
    error_message = "ecr_image_tag_mutability must be MUTABLE or IMMUTABLE."
  }
}

variable "ecr_keep_images" {
  description = "Tagged images the ECR lifecycle policy keeps (older ones expire; untagged ones expire after a day)."
  type        = number
  default     = 20

  validation {
    condition     = var.ecr_keep_images >= 1 && var.ecr_keep_images <= 1000
    error_message = "ecr_keep_images must be between 1 and 1000."
  }
}

variable "ecr_force_delete" {
  description = "Let `terraform destroy` delete the ECR repository while it still holds images."
  type        = bool
  default     = false
}

variable "task_sizes" {
  description = "Fargate CPU units and memory (MiB) of each stage's task, keyed by stage. The combination must be one Fargate supports."
  type = map(object({
    cpu    = number
    memory = number
  }))
  default = {
    upload        = { cpu = 1024, memory = 4096 }
    validate      = { cpu = 1024, memory = 4096 }
    "compute-kpi" = { cpu = 1024, memory = 4096 }
  }

  validation {
    condition     = length(setsubtract(["upload", "validate", "compute-kpi"], keys(var.task_sizes))) == 0 && length(var.task_sizes) == 3
    error_message = "task_sizes must have exactly the keys upload, validate and compute-kpi."
  }

  validation {
    condition     = alltrue([for s in values(var.task_sizes) : contains([256, 512, 1024, 2048, 4096, 8192, 16384], s.cpu)])
    error_message = "each task's cpu must be 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }

  # Fargate's table of task sizes (AWS: "Amazon ECS task definition invalid CPU or memory"): an
  # unsupported pair would pass plan and fail at apply with "No Fargate configuration exists".
  validation {
    condition = alltrue([for s in values(var.task_sizes) : (
      s.cpu == 256 ? contains([512, 1024, 2048], s.memory) :
      s.cpu == 512 ? s.memory >= 1024 && s.memory <= 4096 && s.memory % 1024 == 0 :
      s.cpu == 1024 ? s.memory >= 2048 && s.memory <= 8192 && s.memory % 1024 == 0 :
      s.cpu == 2048 ? s.memory >= 4096 && s.memory <= 16384 && s.memory % 1024 == 0 :
      s.cpu == 4096 ? s.memory >= 8192 && s.memory <= 30720 && s.memory % 1024 == 0 :
      s.cpu == 8192 ? s.memory >= 16384 && s.memory <= 61440 && s.memory % 4096 == 0 :
      s.cpu == 16384 ? s.memory >= 32768 && s.memory <= 122880 && s.memory % 8192 == 0 : false
    )])
    error_message = "each task's memory must suit its cpu as Fargate requires (MiB): 256 -> 512, 1024 or 2048; 512 -> 1024-4096; 1024 -> 2048-8192; 2048 -> 4096-16384; 4096 -> 8192-30720 (steps of 1024); 8192 -> 16384-61440 (steps of 4096); 16384 -> 32768-122880 (steps of 8192)."
  }
}

variable "task_ephemeral_storage_gib" {
  description = "Ephemeral storage of each task, in GiB: the jobs stage Parquet parts on local disk before uploading them, and validate keeps the rows of the entity it is checking there (~210 bytes a row of the largest entity: ~4 GB at 20M order_items rows)."
  type        = number
  default     = 30

  validation {
    condition     = var.task_ephemeral_storage_gib >= 21 && var.task_ephemeral_storage_gib <= 200
    error_message = "task_ephemeral_storage_gib must be between 21 and 200."
  }
}

variable "task_cpu_architecture" {
  description = "CPU architecture of the task image: X86_64 for an image built with --platform linux/amd64, ARM64 for linux/arm64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.task_cpu_architecture)
    error_message = "task_cpu_architecture must be X86_64 or ARM64."
  }
}

variable "task_stop_timeout_seconds" {
  description = "Seconds a job gets between SIGTERM and SIGKILL when its task is stopped (stopTimeout)."
  type        = number
  default     = 120

  validation {
    condition     = var.task_stop_timeout_seconds >= 2 && var.task_stop_timeout_seconds <= 120
    error_message = "task_stop_timeout_seconds must be between 2 and 120."
  }
}

variable "container_insights" {
  description = "Container Insights mode of the ECS cluster: enabled, enhanced or disabled."
  type        = string
  default     = "enabled"

  validation {
    condition     = contains(["enabled", "enhanced", "disabled"], var.container_insights)
    error_message = "container_insights must be enabled, enhanced or disabled."
  }
}

# -----------------------------------------------------------------------------
# Job configuration (passed to the tasks as environment variables)
# -----------------------------------------------------------------------------

variable "log_level" {
  description = "Log level of the jobs and the orchestrator (CARTPIPE_LOG_LEVEL)."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "time_zone" {
  description = "IANA time zone of naive timestamps and KPI dates (CARTPIPE_TIME_ZONE)."
  type        = string
  default     = "UTC"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_+/-]*$", var.time_zone))
    error_message = "time_zone must be an IANA zone name such as UTC or Europe/London."
  }
}

variable "reject_threshold" {
  description = "Fraction of rejected rows above which validate fails the run (CARTPIPE_REJECT_THRESHOLD)."
  type        = number
  default     = 0.2

  validation {
    condition     = var.reject_threshold >= 0 && var.reject_threshold <= 1
    error_message = "reject_threshold must be between 0 and 1."
  }
}

variable "stage_workers" {
  description = "Worker threads per stage task (CARTPIPE_WORKERS); 0 = one per vCPU of the task (task_sizes)."
  type        = number
  default     = 0

  validation {
    condition     = var.stage_workers >= 0 && floor(var.stage_workers) == var.stage_workers
    error_message = "stage_workers must be a whole number, 0 or more."
  }
}

variable "rows_per_part" {
  description = "Rows per Parquet part file the jobs write (CARTPIPE_ROWS_PER_PART)."
  type        = number
  default     = 1000000

  validation {
    condition     = var.rows_per_part >= 1 && floor(var.rows_per_part) == var.rows_per_part
    error_message = "rows_per_part must be a positive whole number."
  }
}

variable "validate_bucket_bytes" {
  description = "Raw Parquet bytes per validate key bucket (CARTPIPE_VALIDATE_BUCKET_BYTES): validate holds one bucket's keys per thread at a time, so this, not the batch size, sets its memory."
  type        = number
  default     = 33554432

  validation {
    condition     = var.validate_bucket_bytes >= 1048576 && floor(var.validate_bucket_bytes) == var.validate_bucket_bytes
    error_message = "validate_bucket_bytes must be a whole number of bytes, at least 1 MiB."
  }
}

variable "max_file_bytes" {
  description = "Largest input file accepted, in bytes after decompression (CARTPIPE_MAX_FILE_BYTES)."
  type        = number
  default     = 5368709120

  validation {
    condition     = var.max_file_bytes >= 1 && floor(var.max_file_bytes) == var.max_file_bytes
    error_message = "max_file_bytes must be a positive whole number."
  }
}

variable "max_field_chars" {
  description = "Longest value accepted in an input field, in characters; a longer one rejects its row (CARTPIPE_MAX_FIELD_CHARS)."
  type        = number
  default     = 100000

  validation {
    condition     = var.max_field_chars >= 1 && floor(var.max_field_chars) == var.max_field_chars
    error_message = "max_field_chars must be a positive whole number."
  }
}

variable "max_row_chars" {
  description = "Longest input row, JSON record or NDJSON line, in characters; a CSV quote never closed or a record that never ends fails the file (CARTPIPE_MAX_ROW_CHARS)."
  type        = number
  default     = 1000000

  validation {
    condition     = var.max_row_chars >= 1 && floor(var.max_row_chars) == var.max_row_chars
    error_message = "max_row_chars must be a positive whole number."
  }
}

variable "stage_timeout_seconds" {
  description = "A stage still running after this long reports FAILED (stage_timeout) and exits, failing its run; a minute later it is killed outright (CARTPIPE_STAGE_TIMEOUT_SECONDS)."
  type        = number
  default     = 7200

  validation {
    condition     = var.stage_timeout_seconds >= 60 && floor(var.stage_timeout_seconds) == var.stage_timeout_seconds
    error_message = "stage_timeout_seconds must be a whole number of seconds, at least 60."
  }
}

variable "aggregations_file" {
  description = "Clickstream aggregation spec inside the image, JSON or INI (CARTPIPE_AGGREGATIONS_FILE). Empty uses the project's default spec; a manifest's options can still override it per run."
  type        = string
  default     = ""

  validation {
    condition     = !can(regex("\\.\\.", var.aggregations_file))
    error_message = "aggregations_file must not contain \"..\"."
  }
}

# -----------------------------------------------------------------------------
# Network
# -----------------------------------------------------------------------------

variable "subnet_ids" {
  description = "Subnets of the stage tasks. Private subnets need a NAT gateway or VPC endpoints (ECR api/dkr, logs, DynamoDB, and the S3 gateway endpoint) to pull the image and reach the services."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "subnet_ids must list at least one subnet id (subnet-...)."
  }
}

variable "security_group_ids" {
  description = "Security groups of the stage tasks. The jobs only make outbound HTTPS calls: no inbound rule is needed."
  type        = list(string)

  validation {
    condition     = length(var.security_group_ids) > 0 && length(var.security_group_ids) <= 5 && alltrue([for s in var.security_group_ids : can(regex("^sg-[0-9a-f]+$", s))])
    error_message = "security_group_ids must list one to five security group ids (sg-...)."
  }
}

variable "assign_public_ip" {
  description = "Give the tasks a public IP. Only for public subnets without a NAT gateway; keep false otherwise."
  type        = bool
  default     = false
}

# -----------------------------------------------------------------------------
# Notifications, tables, catalog
# -----------------------------------------------------------------------------

variable "notification_emails" {
  description = "E-mail addresses subscribed to the run notifications. Each address must confirm the subscription from the e-mail SNS sends."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.notification_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "notification_emails must contain e-mail addresses only."
  }
}

variable "dynamodb_deletion_protection" {
  description = "Protect the DynamoDB tables from deletion (then `terraform destroy` stops at them)."
  type        = bool
  default     = false
}

variable "glue_database_name" {
  description = "Name of the Glue database Athena queries. Null derives it from name_prefix (hyphens become underscores)."
  type        = string
  default     = null

  validation {
    condition     = var.glue_database_name == null || can(regex("^[a-z_][a-z0-9_]{0,254}$", var.glue_database_name))
    error_message = "glue_database_name must be lowercase letters, digits and underscores."
  }
}

variable "glue_projection_start_date" {
  description = "First date (yyyy-MM-dd) Athena's partition projection considers for the dated tables."
  type        = string
  default     = "2020-01-01"

  validation {
    condition     = can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.glue_projection_start_date))
    error_message = "glue_projection_start_date must be a date in yyyy-MM-dd form."
  }
}
