# -----------------------------------------------------------------------------
# Provider configuration: one region, every resource tagged.
# -----------------------------------------------------------------------------

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge({ Project = "cartpipe", Stack = var.name_prefix }, var.tags)
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}
