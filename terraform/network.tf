# -----------------------------------------------------------------------------
# Network: the stack brings no VPC of its own. The tasks run in the subnets and
# security groups given as variables (see variables.tf) and get no public IP
# unless assign_public_ip is set. The orchestrator passes these to RunTask
# (CARTPIPE_SUBNETS, CARTPIPE_SECURITY_GROUPS, CARTPIPE_ASSIGN_PUBLIC_IP in
# locals.tf). docs/deploy.md recommends an S3 gateway endpoint in that VPC:
# free, and the Parquet traffic then avoids NAT data charges.
# -----------------------------------------------------------------------------

data "aws_subnet" "task" {
  for_each = toset(var.subnet_ids)

  id = each.value
}

check "task_subnets_share_one_vpc" {
  assert {
    condition     = length(distinct([for s in data.aws_subnet.task : s.vpc_id])) == 1
    error_message = "subnet_ids must all belong to the same VPC."
  }
}
