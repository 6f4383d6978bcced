# -----------------------------------------------------------------------------
# ECS cluster and one Fargate task definition per stage. The orchestrator runs
# family "<name_prefix>-<stage>" with RUN_ID as a container override.
# -----------------------------------------------------------------------------

resource "aws_ecs_cluster" "this" {
  name = var.name_prefix

  setting {
    name  = "containerInsights"
    value = var.container_insights
  }
}

resource "aws_cloudwatch_log_group" "task" {
  for_each = toset(local.stages)

  name              = "/ecs/${var.name_prefix}/${each.key}"
  retention_in_days = var.log_retention_days
}

resource "aws_ecs_task_definition" "stage" {
  for_each = toset(local.stages)

  family                   = "${var.name_prefix}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.task_sizes[each.key].cpu)
  memory                   = tostring(var.task_sizes[each.key].memory)
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.task_cpu_architecture
  }

  ephemeral_storage {
    size_in_gib = var.task_ephemeral_storage_gib
  }

  # The root file system is read-only; the jobs stage their files on this volume, mounted where
  # the image declares VOLUME ["/scratch"] (its TMPDIR), so ECS gives it the image directory's
  # owner (`node`). Blank variables are left out of the environment (ECS drops them anyway, which
  # would show as a diff on every plan; the config module reads blank and absent alike).
  volume {
    name = "scratch"
  }

  container_definitions = jsonencode([
    {
      name                   = local.container_name
      image                  = "${aws_ecr_repository.this.repository_url}:${var.image_tag}"
      essential              = true
      command                = concat(["node"], local.job_node_flags[each.key], ["dist/jobs/${each.key}.js"])
      environment            = [for name, value in local.job_environment : { name = name, value = value } if value != ""]
      stopTimeout            = var.task_stop_timeout_seconds
      readonlyRootFilesystem = true
      mountPoints            = [{ sourceVolume = "scratch", containerPath = "/scratch", readOnly = false }]
      linuxParameters        = { initProcessEnabled = true }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          "awslogs-group"         = aws_cloudwatch_log_group.task[each.key].name
          "awslogs-region"        = local.region
          "awslogs-stream-prefix" = local.container_name
        }
      }
    },
  ])
}
