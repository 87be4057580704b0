"""Wires the runbook's components together from the stack settings, one named section each, in the
runbook's order: keys (1.1-1.3, 3), alerts (4), buckets (1.2, 1.3), databases (1.1, 2), the AWS Backup
plan (1.1, 2), the scheduled jobs (1.3, 3) and the audit trail (4)."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Buckets:
    access_logs: SecureBucket
    audit: SecureBucket
    artifacts: ArtifactsBucket
    evidence: EvidenceBucket
    config: SecureBucket


@dataclass(frozen=True)
class Databases:
    network: DatabaseNetwork
    instances: list[Database]


@dataclass(frozen=True)
class Jobs:
    config_backup: ScheduledFunction
    kms_validate: ScheduledFunction


class Platform(pulumi.ComponentResource):
    """Everything the runbook asks of one environment."""

    outputs: dict[str, Any]

    def __init__(self, name: str, settings: Settings, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("maestro:platform:Platform", name, None, opts)
        self.name, self.s = name, settings
        self.child = pulumi.ResourceOptions(parent=self)
        self.tags = {
            **settings.tags,
            "maestro:environment": settings.environment,
            "maestro:managed-by": "pulumi",
        }
        self.account_id = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).account_id
        keys, dr_keys = self.keys()
        alerts = self.alerts(keys)
        buckets = self.buckets(keys)
        databases = self.databases(keys, dr_keys)
        backup = self.backup_plan(keys, dr_keys, alerts, databases)
        jobs = self.scheduled_jobs(keys, dr_keys, buckets, alerts)
        audit = self.audit(keys, buckets)
        self.outputs = self.exports(keys, buckets, databases, backup, jobs, audit, alerts)
        self.register_outputs({"environment": settings.environment})

    # ---- runbook 1.1-1.3 and 3: customer-managed keys, rotating yearly ------------------------------

    def keys(self) -> tuple[Keys, Keys | None]:
        s = self.s
        common = {
            "environment": s.environment,
            "account_id": self.account_id,
            "region": s.region,
            "name_prefix": s.name_prefix,
            "protect": s.protect,
            "tags": self.tags,
        }
        keys = Keys(f"{self.name}-keys", KeysArgs(**common), self.child)
        if not s.dr_region:
            return keys, None
        dr_args = KeysArgs(**common, purposes=("rds", "backup"), key_region=s.dr_region)
        return keys, Keys(f"{self.name}-dr-keys", dr_args, self.child)

    # ---- runbook 4: one alerts topic for every failure ----------------------------------------------

    def alerts(self, keys: Keys) -> Alerts:
        s = self.s
        return Alerts(
            f"{self.name}-alerts",
            AlertsArgs(
                environment=s.environment,
                name_prefix=s.name_prefix,
                kms_key_arn=keys.arns["logs"],
                account_id=self.account_id,
                alert_email=s.alert_email,
                tags=self.tags,
            ),
            self.child,
        )

    # ---- runbook 1.2 and 1.3: buckets ---------------------------------------------------------------

    def bucket_name(self, purpose: str) -> pulumi.Output[str]:
        s = self.s
        return pulumi.Output.concat(
            s.name_prefix, "-", s.environment, "-", purpose, "-", self.account_id, "-", s.region
        )

    def bucket_arn(self, purpose: str) -> pulumi.Output[str]:
        return pulumi.Output.concat("arn:aws:s3:::", self.bucket_name(purpose))

    def secure(
        self, purpose: str, key_arn: pulumi.Input[str], access_logs: SecureBucket, **extra: Any
    ) -> SecureBucketArgs:
        return SecureBucketArgs(
            bucket_name=self.bucket_name(purpose),
            kms_key_arn=key_arn,
            access_log_bucket=access_logs.bucket_name,
            protect=self.s.protect,
            tags={**self.tags, "maestro:purpose": purpose},
            **extra,
        )

    def access_log_bucket(self) -> SecureBucket:
        # S3 server access logs cannot be delivered to an SSE-KMS bucket: this one is SSE-S3, logs nothing.
        return SecureBucket(
            f"{self.name}-access-logs",
            SecureBucketArgs(
                bucket_name=self.bucket_name("access-logs"),
                kms_key_arn=None,
                protect=self.s.protect,
                tags={**self.tags, "maestro:purpose": "access-logs"},
                policy_statements=[
                    {
                        "Sid": "S3ServerAccessLogs",
                        "Effect": "Allow",
                        "Principal": {"Service": "logging.s3.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": pulumi.Output.concat(self.bucket_arn("access-logs"), "/*"),
                        "Condition": {"StringEquals": {"aws:SourceAccount": self.account_id}},
                    }
                ],
            ),
            self.child,
        )

    def buckets(self, keys: Keys) -> Buckets:
        s, name = self.s, self.name
        logs = self.access_log_bucket()
        audit_statements = audit_bucket_statements(
            self.bucket_arn("audit"), self.account_id, s.region, s.name_prefix, s.environment
        )
        audit = SecureBucket(
            f"{name}-audit-bucket",
            self.secure("audit", keys.arns["logs"], logs, policy_statements=audit_statements),
            self.child,
        )
        artifacts = ArtifactsBucket(
            f"{name}-artifacts",
            ArtifactsBucketArgs(
                secure=self.secure("artifacts", keys.arns["storage"], logs),
                inventory_bucket_arn=audit.bucket_arn,
                inventory_key_arn=keys.arns["logs"],
            ),
            self.child,
        )
        evidence = EvidenceBucket(
            f"{name}-evidence",
            EvidenceBucketArgs(
                secure=self.secure("evidence", keys.arns["storage"], logs, object_lock=True),
                lock_mode=s.evidence_lock_mode,
                lock_days=s.evidence_lock_days,
                archive_after_days=s.evidence_archive_after_days,
            ),
            self.child,
        )
        return Buckets(logs, audit, artifacts, evidence, self.config_bucket(keys, logs))

    def config_bucket(self, keys: Keys, access_logs: SecureBucket) -> SecureBucket:
        """Runbook 1.3: restricted to the two scheduled jobs' roles and the break-glass role."""
        s = self.s
        role_arn_prefix = pulumi.Output.concat("arn:aws:iam::", self.account_id, ":role/")
        writers = [
            pulumi.Output.concat(role_arn_prefix, role_name(s.name_prefix, s.environment, job))
            for job in ("config-backup", "kms-validate")
        ]
        statements = restricted_access_statements(
            self.bucket_arn("config"), [*writers, s.break_glass_role_arn], self.account_id
        )
        return SecureBucket(
            f"{self.name}-config",
            self.secure("config", keys.arns["config"], access_logs, policy_statements=statements),
            self.child,
        )

    # ---- runbook 1.1 and 2: databases, their network, and the drill network (staging) ---------------

    def databases(self, keys: Keys, dr_keys: Keys | None) -> Databases:
        s, name = self.s, self.name
        network = DatabaseNetwork(
            f"{name}-network",
            DatabaseNetworkArgs(
                environment=s.environment,
                name_prefix=s.name_prefix,
                vpc_id=s.vpc_id,
                subnet_ids=s.subnet_ids,
                app_security_group_ids=s.app_security_group_ids,
                drill_subnet_ids=s.drill_subnet_ids if s.drill_target else (),
                tags=self.tags,
            ),
            self.child,
        )
        instances = [
            Database(
                f"{name}-db-{spec.name}",
                DatabaseArgs(
                    spec=spec,
                    environment=s.environment,
                    name_prefix=s.name_prefix,
                    kms_key_arn=keys.arns["rds"],
                    subnet_group_name=network.subnet_group_name,
                    security_group_ids=[network.security_group_id],
                    backup_retention_days=s.backup_retention_days,
                    deletion_protection=s.deletion_protection,
                    drill_target=s.drill_target,
                    dr_region=s.dr_region,
                    dr_kms_key_arn=dr_keys.arns["rds"] if dr_keys else None,
                    protect=s.protect,
                    tags=self.tags,
                ),
                self.child,
            )
            for spec in s.databases
        ]
        return Databases(network, instances)

    # ---- runbook 1.1 and 2: AWS Backup plan, vault and quarterly restore testing --------------------

    def backup_plan(
        self, keys: Keys, dr_keys: Keys | None, alerts: Alerts, databases: Databases
    ) -> BackupPlan:
        s = self.s
        return BackupPlan(
            f"{self.name}-backup",
            BackupPlanArgs(
                environment=s.environment,
                name_prefix=s.name_prefix,
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
                drill_subnet_group_name=databases.network.drill_subnet_group_name,
                protect=s.protect,
                tags=self.tags,
            ),
            self.child,
        )

    # ---- runbook 1.3 and 3: the daily config backup and the monthly KMS validation ------------------

    def scheduled(
        self,
        job: str,
        description: str,
        schedule: str,
        statements: Any,
        variables: dict[str, Any],
        keys: Keys,
        buckets: Buckets,
    ) -> ScheduledFunction:
        """A backupctl Lambda on a schedule, encrypted with the config key, logging to the logs key."""
        s = self.s
        return ScheduledFunction(
            f"{self.name}-{job}",
            ScheduledFunctionArgs(
                environment=s.environment,
                name_prefix=s.name_prefix,
                job=job,
                handler=f"backupctl.handlers.{job.replace('-', '_')}",
                description=description,
                schedule_expression=schedule,
                schedule_timezone=s.schedule_timezone,
                statements=statements,
                environment_variables={
                    "MAESTRO_CONFIG_BUCKET": buckets.config.bucket_name,
                    "MAESTRO_CONFIG_KMS_KEY": keys.arns["config"],
                    "MAESTRO_ENVIRONMENT": s.environment,
                    **variables,
                },
                kms_key_arn=keys.arns["config"],
                logs_kms_key_arn=keys.arns["logs"],
                tags=self.tags,
            ),
            self.child,
        )

    def scheduled_jobs(self, keys: Keys, dr_keys: Keys | None, buckets: Buckets, alerts: Alerts) -> Jobs:
        s = self.s
        # Runbook 3 validates every key after rotation, the DR region's included (named dr-<purpose>).
        validated = {**keys.arns, **{f"dr-{p}": arn for p, arn in (dr_keys.arns if dr_keys else {}).items()}}
        config_job = self.scheduled(
            "config-backup",
            "Daily backup of policies, routing pins and secrets metadata (runbook 1.3)",
            s.config_backup_schedule,
            config_backup_statements(
                buckets.config.bucket_arn,
                keys.arns["config"],
                s.region,
                self.account_id,
                s.parameter_paths,
                s.secrets_prefix,
            ),
            {
                "MAESTRO_PARAMETER_PATHS": ",".join(s.parameter_paths),
                "MAESTRO_SECRETS_PREFIX": s.secrets_prefix,
            },
            keys,
            buckets,
        )
        kms_job = self.scheduled(
            "kms-validate",
            "Monthly KMS rotation and canary-decrypt validation (runbook 3)",
            s.kms_validation_schedule,
            kms_validation_statements(
                list(validated.values()),
                buckets.config.bucket_arn,
                keys.arns["config"],
                s.environment,
                alerts.topic_arn,
            ),
            {
                "MAESTRO_KEY_ARNS": pulumi.Output.json_dumps(validated),
                "MAESTRO_ALERTS_TOPIC": alerts.topic_arn,
            },
            keys,
            buckets,
        )
        return Jobs(config_job, kms_job)

    # ---- runbook 4: audit trail, Backup Audit Manager, reports --------------------------------------

    def audit(self, keys: Keys, buckets: Buckets) -> Audit:
        s = self.s
        critical = [d for d in s.databases if d.criticality == "critical"] or list(s.databases)
        return Audit(
            f"{self.name}-audit",
            AuditArgs(
                environment=s.environment,
                name_prefix=s.name_prefix,
                audit_bucket_name=buckets.audit.bucket_name,
                kms_key_arn=keys.arns["logs"],
                data_event_bucket_arns=[buckets.evidence.bucket_arn, buckets.config.bucket_arn],
                daily_retention_days=s.daily_retention_days,
                rpo_hours=max(1, min(d.rpo_minutes for d in critical) // 60) if s.has_critical else 24,
                rto_minutes=min(d.rto_minutes for d in critical),
                vault_locked=s.vault_lock_mode != "none",
                tags=self.tags,
            ),
            pulumi.ResourceOptions(parent=self, depends_on=[buckets.audit]),
        )

    # ---- the stack outputs backupctl's live commands read -------------------------------------------

    def exports(
        self,
        keys: Keys,
        buckets: Buckets,
        databases: Databases,
        backup: BackupPlan,
        jobs: Jobs,
        audit: Audit,
        alerts: Alerts,
    ) -> dict[str, Any]:
        s = self.s
        return {
            "environment": s.environment,
            "region": s.region,
            "accountId": self.account_id,
            "databases": [
                {
                    "name": spec.name,
                    "identifier": db.identifier,
                    "arn": db.arn,
                    "criticality": spec.criticality,
                    "rpoMinutes": spec.rpo_minutes,
                    "rtoMinutes": spec.rto_minutes,
                }
                for spec, db in zip(s.databases, databases.instances, strict=True)
            ],
            "backupRetentionDays": s.backup_retention_days,
            "vaultName": backup.vault_name,
            "vaultArn": backup.vault_arn,
            "backupPlanId": backup.plan_id,
            "pitrPlanId": backup.pitr_plan_id,
            "drVaultArn": backup.dr_vault_arn,
            "drRegion": s.dr_region,
            "keyArns": keys.arns,
            "artifactsBucket": buckets.artifacts.bucket_name,
            "evidenceBucket": buckets.evidence.bucket_name,
            "evidenceLockMode": s.evidence_lock_mode,
            "evidenceLockDays": s.evidence_lock_days,
            "configBucket": buckets.config.bucket_name,
            "auditBucket": buckets.audit.bucket_name,
            "accessLogBucket": buckets.access_logs.bucket_name,
            "alertsTopicArn": alerts.topic_arn,
            "configBackupFunction": jobs.config_backup.function_name,
            "configBackupSchedule": jobs.config_backup.schedule_name,
            "kmsValidationFunction": jobs.kms_validate.function_name,
            "kmsValidationSchedule": jobs.kms_validate.schedule_name,
            "parameterPaths": list(s.parameter_paths),
            "secretsPrefix": s.secrets_prefix,
            "drillTarget": s.drill_target,
            "drillSubnetGroup": databases.network.drill_subnet_group_name,
            "drillSecurityGroupId": databases.network.drill_security_group_id,
            "trailArn": audit.trail_arn,
            "frameworkArn": audit.framework_arn,
        }
