# -----------------------------------------------------------------------------
# Terraform and provider versions. The AWS provider is pinned to the 6.x line:
# data.aws_region's `region` attribute and the argument names used here are 6.x.
# -----------------------------------------------------------------------------

terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}
