"""The audit trail of backup and restore operations (runbook 4).

CloudTrail records every API call in all regions, with log file validation, under the logs CMK and
with data events on the evidence and config buckets. AWS Backup Audit Manager continuously checks the
runbook's backup rules and delivers reports to the audit bucket. Failed or aborted backup, copy and
restore jobs raise an EventBridge rule that publishes to the encrypted alerts topic (one per region: the
DR vault notifies a topic in its own region).

Backup Audit Manager needs AWS Config to record the Backup resource types before its controls can be
evaluated (https://docs.aws.amazon.com/aws-backup/latest/devguide/turning-on-resource-tracking.html). An
account has one configuration recorder per region, often owned by an organization (Control Tower), so
the program does not declare one: it is a prerequisite in the README, and ``backupctl verify`` checks it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import policy_document
from components.keys import TOPIC_PUBLISHERS

FAILED_JOB_PATTERN = {
    "source": ["aws.backup"],
    "detail-type": ["Backup Job State Change", "Copy Job State Change", "Restore Job State Change"],
    "detail": {"state": ["FAILED", "ABORTED", "EXPIRED"]},
}
REPORTS_SERVICE = "reports.backup.amazonaws.com"
# The control is evaluated per RDS instance against its newest recovery point. Every database gets the
# daily rule (03:00 + a 60-minute start window) and the verify check allows the same 26 h
# (backupctl.live.verify.SNAPSHOT_MAX_AGE); an RPO-sized window (1 h) is always non-compliant for
# databases backed up daily. Accepted values: hours up to 744
# (https://docs.aws.amazon.com/config/latest/developerguide/rds-last-backup-recovery-point-created.html).
LAST_RECOVERY_POINT_MAX_AGE_HOURS = 26


def backup_reports_role(
    name: str, existing_arn: str | None, opts: pulumi.ResourceOptions
) -> aws.iam.ServiceLinkedRole:
    """AWSServiceRoleForBackupReports, declared so the audit bucket policy can name it.

    The role exists only once an account made its first framework or report plan, and both depend on the
    audit bucket's policy: a policy naming it before then fails with "Invalid principal in policy". One
    per account: where it exists already (another stack, the console), ``existing_arn`` imports it. It is
    kept on delete because other stacks of the account may use it.
    https://docs.aws.amazon.com/aws-backup/latest/devguide/using-service-linked-roles-AWSServiceRoleForBackupReports.html
    """
    return aws.iam.ServiceLinkedRole(
        name,
        aws_service_name=REPORTS_SERVICE,
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(import_=existing_arn, retain_on_delete=True)
        ),
    )


def trail_name(name_prefix: str, environment: str) -> str:
    return f"{name_prefix}-{environment}-audit"


def audit_bucket_statements(
    bucket_arn: pulumi.Output[str],
    account_id: pulumi.Input[str],
    region: str,
    name_prefix: str,
    environment: str,
    reports_role_arn: pulumi.Input[str],
) -> list[Mapping[str, Any]]:
    """Let CloudTrail, S3 inventory and Backup Audit Manager write to the audit bucket, and no one else."""
    trail_arn = pulumi.Output.concat(
        "arn:aws:cloudtrail:", region, ":", account_id, ":trail/", trail_name(name_prefix, environment)
    )
    return [
        {
            "Sid": "CloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
        },
        {
            "Sid": "CloudTrailWrite",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": pulumi.Output.concat(bucket_arn, "/cloudtrail/AWSLogs/", account_id, "/*"),
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
        },
        {
            "Sid": "InventoryWrite",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": pulumi.Output.concat(bucket_arn, "/inventory/*"),
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        },
        {
            "Sid": "BackupReportsWrite",
            "Effect": "Allow",
            "Principal": {"AWS": reports_role_arn},
            "Action": "s3:PutObject",
            "Resource": pulumi.Output.concat(bucket_arn, "/backup-reports/*"),
        },
    ]


@dataclass(frozen=True)
class AlertsArgs:
    environment: str
    name_prefix: str
    kms_key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    alert_email: str | None = None
    region: str | None = None  # set for the DR region's topic
    tags: Mapping[str, str] = field(default_factory=dict)


class Alerts(pulumi.ComponentResource):
    """The encrypted topic every failure lands on, and the rule that routes failed backup jobs to it."""

    topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("maestro:audit:Alerts", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        base = f"{args.name_prefix}-{args.environment}"
        region = args.region
        topic = aws.sns.Topic(
            f"{name}-topic",
            name=f"{base}-backup-alerts",
            kms_master_key_id=args.kms_key_arn,
            region=region,
            tags=dict(args.tags),
            opts=child,
        )
        aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            region=region,
            policy=policy_document(
                [
                    {
                        "Sid": "ServicesPublishAlerts",
                        "Effect": "Allow",
                        "Principal": {
                            "Service": list(TOPIC_PUBLISHERS)
                        },  # the services the topic's key admits
                        "Action": "sns:Publish",
                        "Resource": topic.arn,
                        "Condition": {"StringEquals": {"aws:SourceAccount": args.account_id}},
                    },
                ]
            ),
            opts=child,
        )
        rule = aws.cloudwatch.EventRule(
            f"{name}-failed-jobs",
            name=f"{base}-backup-failed-jobs",
            description="Failed, aborted or expired AWS Backup jobs (runbook 4)",
            event_pattern=json.dumps(FAILED_JOB_PATTERN),
            region=region,
            tags=dict(args.tags),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-failed-jobs-target", rule=rule.name, arn=topic.arn, region=region, opts=child
        )
        if args.alert_email:
            aws.sns.TopicSubscription(
                f"{name}-email",
                topic=topic.arn,
                protocol="email",
                endpoint=args.alert_email,
                region=region,
                opts=child,
            )
        self.topic_arn = topic.arn
        self.register_outputs({"topic_arn": self.topic_arn})


@dataclass(frozen=True)
class AuditArgs:
    environment: str
    name_prefix: str
    audit_bucket_name: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    data_event_bucket_arns: Sequence[pulumi.Input[str]]
    daily_retention_days: int
    rto_minutes: int
    vault_locked: bool
    recovery_point_admin_arns: Sequence[str] = ()  # exempt from the vault's deletion deny
    tags: Mapping[str, str] = field(default_factory=dict)


class Audit(pulumi.ComponentResource):
    trail_arn: pulumi.Output[str]
    framework_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AuditArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("maestro:audit:Audit", name, None, opts)
        self.name, self.args = name, args
        self.child = pulumi.ResourceOptions(parent=self)
        self.base = f"{args.name_prefix}-{args.environment}"
        self.trail_arn = self.trail().arn
        self.framework_arn = self.framework().arn
        self.report_plans()
        self.register_outputs({"trail_arn": self.trail_arn, "framework_arn": self.framework_arn})

    def trail(self) -> aws.cloudtrail.Trail:
        """Every API call in every region, validated, with data events on the evidence and config buckets."""
        args = self.args
        return aws.cloudtrail.Trail(
            f"{self.name}-trail",
            name=trail_name(args.name_prefix, args.environment),
            s3_bucket_name=args.audit_bucket_name,
            s3_key_prefix="cloudtrail",
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            kms_key_id=args.kms_key_arn,
            event_selectors=[
                {
                    "read_write_type": "All",
                    "include_management_events": True,
                    "data_resources": [
                        {
                            "type": "AWS::S3::Object",
                            "values": [pulumi.Output.concat(arn, "/") for arn in args.data_event_bucket_arns],
                        }
                    ],
                }
            ],
            tags=dict(args.tags),
            opts=self.child,
        )

    def controls(self) -> list[Any]:
        """The runbook's backup rules as Backup Audit Manager controls."""
        args = self.args

        def control(control_name: str, rds_scope: bool = True, **params: str | int) -> Any:
            return {
                "name": control_name,
                "input_parameters": [{"name": k, "value": str(v)} for k, v in params.items()],
                "scope": {"compliance_resource_types": ["RDS"]} if rds_scope else None,
            }

        controls = [
            control(
                "BACKUP_PLAN_MIN_FREQUENCY_AND_MIN_RETENTION_CHECK",
                rds_scope=False,
                requiredFrequencyUnit="days",
                requiredFrequencyValue=1,
                requiredRetentionDays=args.daily_retention_days,
            ),
            control("BACKUP_RECOVERY_POINT_ENCRYPTED"),
            control(
                "BACKUP_RECOVERY_POINT_MINIMUM_RETENTION_CHECK",
                requiredRetentionDays=args.daily_retention_days,
            ),
            # Evaluates the vault access policies (components/backup_plan.py ``vault_access_policy``); the
            # principals that policy exempts are the ones this control must not check.
            # https://docs.aws.amazon.com/config/latest/developerguide/backup-recovery-point-manual-deletion-disabled.html
            control(
                "BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED",
                rds_scope=False,
                **(
                    {"principalArnList": ",".join(args.recovery_point_admin_arns)}
                    if args.recovery_point_admin_arns
                    else {}
                ),
            ),
            control("BACKUP_RESOURCES_PROTECTED_BY_BACKUP_PLAN"),
            control(
                "BACKUP_LAST_RECOVERY_POINT_CREATED",
                recoveryPointAgeUnit="hours",
                recoveryPointAgeValue=LAST_RECOVERY_POINT_MAX_AGE_HOURS,
            ),
            control("RESTORE_TIME_FOR_RESOURCES_MEET_TARGET", maxRestoreTime=args.rto_minutes),
        ]
        if args.vault_locked:
            controls.append(control("BACKUP_RESOURCES_PROTECTED_BY_BACKUP_VAULT_LOCK"))
        return controls

    def framework(self) -> aws.backup.Framework:
        return aws.backup.Framework(
            f"{self.name}-framework",
            name=f"{self.base}-runbook".replace("-", "_"),
            description="Maestro Backup and Restore Runbook controls",
            controls=self.controls(),
            tags=dict(self.args.tags),
            opts=self.child,
        )

    def report_plans(self) -> None:
        """Control compliance, backup job and restore job reports, delivered to the audit bucket."""
        args = self.args
        for template, frameworks in (
            ("CONTROL_COMPLIANCE_REPORT", [self.framework_arn]),
            ("BACKUP_JOB_REPORT", None),
            ("RESTORE_JOB_REPORT", None),
        ):
            aws.backup.ReportPlan(
                f"{self.name}-{template.lower().replace('_', '-')}",
                name=f"{self.base}_{template}".replace("-", "_").lower(),
                report_delivery_channel={
                    "s3_bucket_name": args.audit_bucket_name,
                    "s3_key_prefix": "backup-reports",
                    "formats": ["CSV", "JSON"],
                },
                report_setting={
                    "report_template": template,
                    "framework_arns": frameworks,
                    "number_of_frameworks": 1 if frameworks else None,
                },
                tags=dict(args.tags),
                opts=self.child,
            )
