# Benchmark yardstick only: never deployed, not part of the Pulumi program.
#
# The core of maestro-backup's `staging` stack written as Terraform, so bench/check_speed.py can time
# `checkov -d <dir> --quiet --compact --skip-download` against `backupctl check` on the same
# infrastructure (checkov 3.3.30 finds 76 passed, 21 failed here; its exit 1 is expected). The benchmark
# derives the prod stack from this file (names, account, COMPLIANCE locks) for the both-stacks figure.
# 27 resources:
#   5 KMS keys (rds, backup, storage, config, logs), rotation on, 365 days   (runbook 3)
#   artifacts bucket + versioning, SSE-KMS, public access block, lifecycle 30/90/180, TLS-only policy
#   evidence bucket + versioning, SSE-KMS, public access block, Object Lock GOVERNANCE 90 days
#   RDS PostgreSQL (7-day retention, CMK, deletion protection, copy tags)   (runbook 1.1)
#   AWS Backup vault (CMK) + vault lock, plan (daily 7 d, weekly 30 d), selection by tag
#   IAM roles for AWS Backup and the config-backup function
#   CloudTrail (multi-region, log validation, CMK), SNS alert topic (CMK)   (runbook 4)
#   config-backup Lambda + daily EventBridge Scheduler schedule             (runbook 1.3)
# Names, ids and ARNs follow the staging stack (account 111122223333, eu-west-1). Pulumi-only resources
# (components, the stack) have no Terraform equivalent; the stack's smaller settings resources (aliases,
# log groups, ownership controls, bucket logging, report plans) are left out, which favours checkov.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = local.region
}

locals {
  env     = "staging"
  account = "111122223333"
  region  = "eu-west-1"
  prefix  = "maestro-staging"
  tags = {
    "maestro:environment" = "staging"
    "maestro:managed-by"  = "pulumi"
    "cost-center"         = "platform"
  }
  artifacts_bucket = "maestro-staging-artifacts-111122223333-eu-west-1"
  evidence_bucket  = "maestro-staging-evidence-111122223333-eu-west-1"
  audit_bucket     = "maestro-staging-audit-111122223333-eu-west-1"
}

# ---------------------------------------------------------------- KMS (runbook 3)

resource "aws_kms_key" "rds" {
  description             = "Maestro staging rds backups (runbook 1.1-1.3, rotated per 3)"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  tags                    = local.tags
}

resource "aws_kms_key" "backup" {
  description             = "Maestro staging backup backups (runbook 1.1-1.3, rotated per 3)"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  tags                    = local.tags
}

resource "aws_kms_key" "storage" {
  description             = "Maestro staging storage backups (runbook 1.1-1.3, rotated per 3)"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  tags                    = local.tags
}

resource "aws_kms_key" "config" {
  description             = "Maestro staging config backups (runbook 1.1-1.3, rotated per 3)"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  tags                    = local.tags
}

resource "aws_kms_key" "logs" {
  description             = "Maestro staging logs backups (runbook 1.1-1.3, rotated per 3)"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  tags                    = local.tags
}

# ---------------------------------------------------------------- artifacts bucket (runbook 1.2)

resource "aws_s3_bucket" "artifacts" {
  bucket        = local.artifacts_bucket
  force_destroy = false
  tags          = local.tags
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.storage.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    id     = "artifacts-tiering"
    status = "Enabled"
    filter {
      prefix = "artifacts/"
    }
    transition {
      days          = 30
      storage_class = "STANDARD_IA"
    }
    transition {
      days          = 90
      storage_class = "GLACIER"
    }
    expiration {
      days = 180
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}

# ---------------------------------------------------------------- evidence bucket (runbook 2.1 step 10)

resource "aws_s3_bucket" "evidence" {
  bucket              = local.evidence_bucket
  object_lock_enabled = true
  force_destroy       = false
  tags                = local.tags
}

resource "aws_s3_bucket_versioning" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.storage.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "evidence" {
  bucket                  = aws_s3_bucket.evidence.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_object_lock_configuration" "evidence" {
  bucket = aws_s3_bucket.evidence.id
  rule {
    default_retention {
      mode = "GOVERNANCE"
      days = 90
    }
  }
}

# ---------------------------------------------------------------- RDS PostgreSQL (runbook 1.1)

resource "aws_db_instance" "orchestrator" {
  identifier                          = "maestro-staging-orchestrator"
  engine                              = "postgres"
  engine_version                      = "15"
  instance_class                      = "db.t4g.medium"
  allocated_storage                   = 50
  max_allocated_storage               = 200
  storage_type                        = "gp3"
  storage_encrypted                   = true
  kms_key_id                          = aws_kms_key.rds.arn
  db_name                             = "orchestrator"
  username                            = "maestro_admin"
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = aws_kms_key.rds.arn
  db_subnet_group_name                = "maestro-staging-db"
  vpc_security_group_ids              = ["sg-49e436b6209998c22"]
  multi_az                            = true
  publicly_accessible                 = false
  iam_database_authentication_enabled = true
  backup_retention_period             = 7
  backup_window                       = "02:00-03:00"
  maintenance_window                  = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot               = true
  delete_automated_backups            = false
  deletion_protection                 = true
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "maestro-staging-orchestrator-final"
  auto_minor_version_upgrade          = true
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.rds.arn
  tags = merge(local.tags, {
    "maestro:database"    = "orchestrator"
    "maestro:backup"      = "true"
    "maestro:criticality" = "critical"
  })
}

# ---------------------------------------------------------------- AWS Backup (runbook 1.1)

# The stack attaches AWSBackupServiceRolePolicyForBackup/ForRestores with separate
# attachments; they carry no checkov check and are left out to keep the count at 27.
resource "aws_iam_role" "backup" {
  name = "${local.prefix}-backup"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "backup.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_backup_vault" "main" {
  name          = "${local.prefix}-vault"
  kms_key_arn   = aws_kms_key.backup.arn
  force_destroy = false
  tags          = local.tags
}

resource "aws_backup_vault_lock_configuration" "main" {
  backup_vault_name  = aws_backup_vault.main.name
  min_retention_days = 7
  max_retention_days = 400
}

resource "aws_backup_plan" "main" {
  name = "${local.prefix}-daily-weekly"

  rule {
    rule_name         = "daily"
    target_vault_name = aws_backup_vault.main.name
    schedule          = "cron(0 3 * * ? *)"
    start_window      = 60
    completion_window = 1440
    lifecycle {
      delete_after = 7
    }
    recovery_point_tags = merge(local.tags, { "maestro:rule" = "daily" })
  }

  rule {
    rule_name         = "weekly"
    target_vault_name = aws_backup_vault.main.name
    schedule          = "cron(0 4 ? * SUN *)"
    start_window      = 60
    completion_window = 1440
    lifecycle {
      delete_after = 30
    }
    recovery_point_tags = merge(local.tags, { "maestro:rule" = "weekly" })
  }

  tags = local.tags
}

resource "aws_backup_selection" "tagged" {
  name         = "${local.prefix}-tagged"
  plan_id      = aws_backup_plan.main.id
  iam_role_arn = aws_iam_role.backup.arn
  selection_tag {
    type  = "STRINGEQUALS"
    key   = "maestro:backup"
    value = "true"
  }
}

# ---------------------------------------------------------------- audit and alerts (runbook 4)

resource "aws_cloudtrail" "audit" {
  name                          = "${local.prefix}-audit"
  s3_bucket_name                = local.audit_bucket
  s3_key_prefix                 = "cloudtrail"
  kms_key_id                    = aws_kms_key.logs.arn
  is_multi_region_trail         = true
  include_global_service_events = true
  enable_log_file_validation    = true
  event_selector {
    read_write_type           = "All"
    include_management_events = true
    data_resource {
      type   = "AWS::S3::Object"
      values = ["${aws_s3_bucket.evidence.arn}/"]
    }
  }
  tags = local.tags
}

resource "aws_sns_topic" "alerts" {
  name              = "${local.prefix}-backup-alerts"
  kms_master_key_id = aws_kms_key.logs.arn
  tags              = local.tags
}

# ---------------------------------------------------------------- config backup (runbook 1.3)

resource "aws_iam_role" "config_backup" {
  name        = "${local.prefix}-config-backup"
  description = "Daily backup of policies, routing pins and secrets metadata (runbook 1.3)"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = local.tags
}

resource "aws_lambda_function" "config_backup" {
  function_name = "${local.prefix}-config-backup"
  description   = "Daily backup of policies, routing pins and secrets metadata (runbook 1.3)"
  role          = aws_iam_role.config_backup.arn
  runtime       = "python3.12"
  handler       = "backupctl.handlers.config_backup"
  filename      = "config_backup.zip"
  memory_size   = 256
  timeout       = 300
  kms_key_arn   = aws_kms_key.config.arn
  tracing_config {
    mode = "Active"
  }
  environment {
    variables = {
      MAESTRO_ENVIRONMENT     = local.env
      MAESTRO_CONFIG_BUCKET   = "maestro-staging-config-111122223333-eu-west-1"
      MAESTRO_PARAMETER_PATHS = "/maestro/policies,/maestro/routing-pins"
      MAESTRO_SECRETS_PREFIX  = "maestro/"
      MAESTRO_CONFIG_KMS_KEY  = aws_kms_key.config.arn
    }
  }
  logging_config {
    log_format = "JSON"
    log_group  = "/aws/lambda/${local.prefix}-config-backup"
  }
  tags = local.tags
}

resource "aws_scheduler_schedule" "config_backup" {
  name                         = "${local.prefix}-config-backup"
  description                  = "Daily backup of policies, routing pins and secrets metadata (runbook 1.3)"
  schedule_expression          = "cron(15 2 * * ? *)"
  schedule_expression_timezone = "UTC"
  state                        = "ENABLED"
  kms_key_arn                  = aws_kms_key.config.arn
  flexible_time_window {
    mode = "OFF"
  }
  target {
    arn      = aws_lambda_function.config_backup.arn
    role_arn = "arn:aws:iam::${local.account}:role/${local.prefix}-config-backup-scheduler"
    input    = jsonencode({ source = "schedule", job = "config-backup" })
    retry_policy {
      maximum_retry_attempts       = 3
      maximum_event_age_in_seconds = 3600
    }
  }
}
