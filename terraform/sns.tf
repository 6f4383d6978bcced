# -----------------------------------------------------------------------------
# Run notifications: one encrypted topic, one e-mail subscription per address.
# -----------------------------------------------------------------------------

resource "aws_sns_topic" "this" {
  name              = "${var.name_prefix}-runs"
  display_name      = "cartpipe"
  kms_master_key_id = "alias/aws/sns"
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.notification_emails)

  topic_arn = aws_sns_topic.this.arn
  protocol  = "email"
  endpoint  = each.value
}
