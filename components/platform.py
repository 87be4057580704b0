"""Wires the runbook's components together from the stack settings, in the runbook's order."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.audit import Alerts, AlertsArgs, Audit, AuditArgs, audit_bucket_statements
from components.backup_plan import BackupPlan, BackupPlanArgs
from components.buckets import (
    ArtifactsBucket,
    ArtifactsBucketArgs,
    EvidenceBucket,
    EvidenceBucketArgs,
    SecureBucket,
    SecureBucketArgs,
    restricted_access_statements,
)
from components.config_backup import (
    ScheduledFunction,
    ScheduledFunctionArgs,
    config_backup_statements,
    kms_validation_statements,
    role_name,
)
from components.database import Database, DatabaseArgs, DatabaseNetwork, DatabaseNetworkArgs
from components.keys import Keys, KeysArgs
from components.settings import Settings


class Platform(pulumi.ComponentResource):
    """Everything the runbook asks of one environment."""

    outputs: dict[str, Any]

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("maestro:platform:Platform", name, None, opts)
        s = settings
        child = pulumi.ResourceOptions(parent=self)
        env, prefix = s.environment, s.name_prefix
        tags = {**s.tags, "maestro:environment": env, "maestro:managed-by": "pulumi"}
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id

        # Runbook 1.1-1.3 and 3: customer-managed keys, rotating yearly.
        keys = Keys(
            f"{name}-keys",
            KeysArgs(
                environment=env,
                account_id=account_id,
                region=s.region,
                name_prefix=prefix,
                protect=s.protect,
                tags=tags,
            ),
            child,
        )
        dr_keys = (
            Keys(
                f"{name}-dr-keys",
                KeysArgs(
                    environment=env,
                    account_id=account_id,
                    region=s.region,
                    name_prefix=prefix,
                    purposes=("rds", "backup"),
                    key_region=s.dr_region,
                    protect=s.protect,
                    tags=tags,
                ),
                child,
            )
            if s.dr_region
            else None
        )

        # Runbook 4: one alerts topic for every failure.
        alerts = Alerts(
            f"{name}-alerts",
            AlertsArgs(
                environment=env,
                name_prefix=prefix,
                kms_key_arn=keys.arns["logs"],
                account_id=account_id,
                alert_email=s.alert_email,
                tags=tags,
            ),
            child,
        )

        # Runbook 1.2 and 1.3: buckets.
        def bucket_name(purpose: str) -> pulumi.Output[str]:
            return pulumi.Output.concat(prefix, "-", env, "-", purpose, "-", account_id, "-", s.region)

        def secure(purpose: str, key: str | None, **extra: Any) -> SecureBucketArgs:
            return SecureBucketArgs(
                bucket_name=bucket_name(purpose),
                kms_key_arn=keys.arns[key] if key else None,
                access_log_bucket=access_logs.bucket_name if key else None,
                protect=s.protect,
                tags={**tags, "maestro:purpose": purpose},
                **extra,
            )

        access_logs = SecureBucket(
            f"{name}-access-logs",
            SecureBucketArgs(
                bucket_name=bucket_name("access-logs"),
                kms_key_arn=None,
                protect=s.protect,
                tags={**tags, "maestro:purpose": "access-logs"},
                policy_statements=[
                    {
                        "Sid": "S3ServerAccessLogs",
                        "Effect": "Allow",
                        "Principal": {"Service": "logging.s3.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": pulumi.Output.concat("arn:aws:s3:::", bucket_name("access-logs"), "/*"),
                        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                    }
                ],
            ),
            child,
        )
        audit_name = bucket_name("audit")
        audit_bucket = SecureBucket(
            f"{name}-audit-bucket",
            secure(
                "audit",
                "logs",
                policy_statements=audit_bucket_statements(
                    pulumi.Output.concat("arn:aws:s3:::", audit_name), account_id, s.region, prefix, env
                ),
            ),
            child,
        )
        artifacts = ArtifactsBucket(
            f"{name}-artifacts",
            ArtifactsBucketArgs(
                secure=secure("artifacts", "storage"),
                inventory_bucket_arn=audit_bucket.bucket_arn,
                inventory_key_arn=keys.arns["logs"],
            ),
            child,
        )
        evidence = EvidenceBucket(
            f"{name}-evidence",
            EvidenceBucketArgs(
                secure=secure("evidence", "storage", object_lock=True),
                lock_mode=s.evidence_lock_mode,
                lock_days=s.evidence_lock_days,
                archive_after_days=s.evidence_archive_after_days,
            ),
            child,
        )
        role_arn_prefix = pulumi.Output.concat("arn:aws:iam::", account_id, ":role/")
        config_writers = [
            pulumi.Output.concat(role_arn_prefix, role_name(prefix, env, job))
            for job in ("config-backup", "kms-validate")
        ]
        config_name = bucket_name("config")
        config_bucket = SecureBucket(
            f"{name}-config",
            secure(
                "config",
                "config",
                policy_statements=restricted_access_statements(
                    pulumi.Output.concat("arn:aws:s3:::", config_name),
                    [*config_writers, s.break_glass_role_arn],
                    account_id,
                ),
            ),
            child,
        )

        # Runbook 1.1: databases, their network, and the drill network (staging).
        network = DatabaseNetwork(
            f"{name}-network",
            DatabaseNetworkArgs(
                environment=env,
                name_prefix=prefix,
                vpc_id=s.vpc_id,
                subnet_ids=s.subnet_ids,
                app_security_group_ids=s.app_security_group_ids,
                drill_subnet_ids=s.drill_subnet_ids if s.drill_target else (),
                tags=tags,
            ),
            child,
        )
        databases = [
            Database(
                f"{name}-db-{spec.name}",
                DatabaseArgs(
                    spec=spec,
                    environment=env,
                    name_prefix=prefix,
                    kms_key_arn=keys.arns["rds"],
                    subnet_group_name=network.subnet_group_name,
                    security_group_ids=[network.security_group_id],
                    backup_retention_days=s.backup_retention_days,
                    deletion_protection=s.deletion_protection,
                    drill_target=s.drill_target,
                    dr_region=s.dr_region,
                    dr_kms_key_arn=dr_keys.arns["rds"] if dr_keys else None,
                    protect=s.protect,
                    tags=tags,
                ),
                child,
            )
            for spec in s.databases
        ]

        # Runbook 1.1 and 2: AWS Backup plan, vault and quarterly restore testing.
        backup = BackupPlan(
            f"{name}-backup",
            BackupPlanArgs(
                environment=env,
                name_prefix=prefix,
                kms_key_arn=keys.arns["backup"],
                daily_retention_days=s.daily_retention_days,
                weekly_retention_days=s.weekly_retention_days,
                continuous_retention_days=s.backup_retention_days,
                vault_lock_mode=s.vault_lock_mode,
                vault_lock_changeable_days=s.vault_lock_changeable_days,
                alerts_topic_arn=alerts.topic_arn,
                critical_databases=s.has_critical,
                schedule_timezone=s.schedule_timezone,
                dr_region=s.dr_region,
                dr_kms_key_arn=dr_keys.arns["backup"] if dr_keys else None,
                drill_subnet_group_name=network.drill_subnet_group_name,
                protect=s.protect,
                tags=tags,
            ),
            child,
        )

        def scheduled(
            job: str, description: str, schedule: str, statements: Any, variables: dict[str, Any]
        ) -> ScheduledFunction:
            """A backupctl Lambda on a schedule, encrypted with the config key, logging to the logs key."""
            return ScheduledFunction(
                f"{name}-{job}",
                ScheduledFunctionArgs(
                    environment=env,
                    name_prefix=prefix,
                    job=job,
                    handler=f"backupctl.handlers.{job.replace('-', '_')}",
                    description=description,
                    schedule_expression=schedule,
                    schedule_timezone=s.schedule_timezone,
                    statements=statements,
                    environment_variables={
                        "MAESTRO_CONFIG_BUCKET": config_bucket.bucket_name,
                        "MAESTRO_CONFIG_KMS_KEY": keys.arns["config"],
                        "MAESTRO_ENVIRONMENT": env,
                        **variables,
                    },
                    kms_key_arn=keys.arns["config"],
                    logs_kms_key_arn=keys.arns["logs"],
                    tags=tags,
                ),
                child,
            )

        # Runbook 1.3: the daily config backup.
        config_job = scheduled(
            "config-backup",
            "Daily backup of policies, routing pins and secrets metadata (runbook 1.3)",
            s.config_backup_schedule,
            config_backup_statements(
                config_bucket.bucket_arn,
                keys.arns["config"],
                s.region,
                account_id,
                s.parameter_paths,
                s.secrets_prefix,
            ),
            {
                "MAESTRO_PARAMETER_PATHS": ",".join(s.parameter_paths),
                "MAESTRO_SECRETS_PREFIX": s.secrets_prefix,
            },
        )

        # Runbook 3: monthly KMS post-rotation validation, failures to the alerts topic.
        kms_job = scheduled(
            "kms-validate",
            "Monthly KMS rotation and canary-decrypt validation (runbook 3)",
            s.kms_validation_schedule,
            kms_validation_statements(
                list(keys.arns.values()), config_bucket.bucket_arn, keys.arns["config"], env, alerts.topic_arn
            ),
            {
                "MAESTRO_KEY_ARNS": pulumi.Output.json_dumps(keys.arns),
                "MAESTRO_ALERTS_TOPIC": alerts.topic_arn,
            },
        )

        # Runbook 4: audit trail, Backup Audit Manager, reports.
        critical = [d for d in s.databases if d.criticality == "critical"] or list(s.databases)
        audit = Audit(
            f"{name}-audit",
            AuditArgs(
                environment=env,
                name_prefix=prefix,
                audit_bucket_name=audit_bucket.bucket_name,
                kms_key_arn=keys.arns["logs"],
                data_event_bucket_arns=[evidence.bucket_arn, config_bucket.bucket_arn],
                daily_retention_days=s.daily_retention_days,
                rpo_hours=max(1, min(d.rpo_minutes for d in critical) // 60) if s.has_critical else 24,
                rto_minutes=min(d.rto_minutes for d in critical),
                vault_locked=s.vault_lock_mode != "none",
                tags=tags,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[audit_bucket]),
        )

        self.outputs = {
            "environment": env,
            "region": s.region,
            "accountId": account_id,
            "databases": [
                {
                    "name": spec.name,
                    "identifier": db.identifier,
                    "arn": db.arn,
                    "criticality": spec.criticality,
                    "rpoMinutes": spec.rpo_minutes,
                    "rtoMinutes": spec.rto_minutes,
                }
                for spec, db in zip(s.databases, databases, strict=True)
            ],
            "backupRetentionDays": s.backup_retention_days,
            "vaultName": backup.vault_name,
            "vaultArn": backup.vault_arn,
            "backupPlanId": backup.plan_id,
            "pitrPlanId": backup.pitr_plan_id,
            "drVaultArn": backup.dr_vault_arn,
            "drRegion": s.dr_region,
            "keyArns": keys.arns,
            "artifactsBucket": artifacts.bucket_name,
            "evidenceBucket": evidence.bucket_name,
            "evidenceLockMode": s.evidence_lock_mode,
            "evidenceLockDays": s.evidence_lock_days,
            "configBucket": config_bucket.bucket_name,
            "auditBucket": audit_bucket.bucket_name,
            "accessLogBucket": access_logs.bucket_name,
            "alertsTopicArn": alerts.topic_arn,
            "configBackupFunction": config_job.function_name,
            "configBackupSchedule": config_job.schedule_name,
            "kmsValidationFunction": kms_job.function_name,
            "kmsValidationSchedule": kms_job.schedule_name,
            "parameterPaths": list(s.parameter_paths),
            "secretsPrefix": s.secrets_prefix,
            "drillTarget": s.drill_target,
            "drillSubnetGroup": network.drill_subnet_group_name,
            "drillSecurityGroupId": network.drill_security_group_id,
            "trailArn": audit.trail_arn,
            "frameworkArn": audit.framework_arn,
        }
        self.register_outputs({"environment": env})
