"""KMS customer-managed keys, one per purpose, rotating yearly (runbook 1.1, 1.2, 1.3 and 3).

Each key's policy keeps the account root as administrator (so IAM policies can grant use, and the key
cannot be orphaned) and lets only the AWS services of its purpose use it, through their own endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import policy_document
from components.settings import KEY_ROTATION_PERIOD_DAYS

DELETION_WINDOW_DAYS = 30  # the longest window KMS allows: a scheduled deletion can still be cancelled

# Which services may use each purpose's key through their regional endpoint (kms:ViaService), for any
# principal of the account. "logs" serves SNS (the alerts topics), S3 (the audit bucket, including Backup
# Audit Manager's reports, see ``key_policy``) and CloudWatch Logs. "ssm" is deliberately absent from
# "config": no parameter is a SecureString under the config key, and the config backup must never be able
# to decrypt one through SSM (issue 10, item 8).
VIA_SERVICES: Mapping[str, tuple[str, ...]] = {
    "rds": ("rds", "secretsmanager"),
    "backup": ("backup", "rds"),
    "storage": ("s3",),
    "config": ("s3", "lambda"),
    "logs": ("s3", "sns", "logs"),
}
PURPOSES: tuple[str, ...] = tuple(VIA_SERVICES)
DR_PURPOSES: tuple[str, ...] = ("rds", "backup", "logs")  # the DR region's databases, vault and alerts
# AWS services that publish to the CMK-encrypted alerts topics. A service publishing to an SSE-KMS topic
# needs kms:GenerateDataKey* and kms:Decrypt from the key policy, and the AWS-documented statement for
# it has no condition: https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
# (#compatibility-with-aws-services). EventBridge's KMS requests carry no aws:SourceAccount, so a
# condition on it would drop every alert silently; the topic policy is where the account is pinned.
TOPIC_PUBLISHERS: tuple[str, ...] = (
    "events.amazonaws.com",  # the failed-jobs rule
    "backup.amazonaws.com",  # vault notifications
    "cloudwatch.amazonaws.com",  # the scheduled jobs' Errors and dead-letter alarms
)


@dataclass(frozen=True)
class KeysArgs:
    environment: str
    account_id: pulumi.Input[str]
    region: str
    name_prefix: str = "maestro"
    purposes: Sequence[str] = PURPOSES
    rotation_period_days: int = KEY_ROTATION_PERIOD_DAYS
    key_region: str | None = None  # set for the disaster-recovery region's keys
    protect: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


def _service(sid: str, principal: str, actions: list[str], condition: Any = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": principal},
        "Action": actions,
        "Resource": "*",
    }
    if condition:
        statement["Condition"] = condition
    return statement


def logs_statements(account_id: pulumi.Input[str], region: str) -> list[dict[str, Any]]:
    """The services that encrypt with the logs key on their own behalf, each with its documented condition."""
    trails = pulumi.Output.concat("arn:aws:cloudtrail:*:", account_id, ":trail/*")
    log_groups = pulumi.Output.concat("arn:aws:logs:", region, ":", account_id, ":log-group:*")
    return [
        # https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html
        _service(
            "CloudTrailEncryptsLogs",
            "cloudtrail.amazonaws.com",
            ["kms:GenerateDataKey*"],
            {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trails}},
        ),
        _service("CloudTrailDescribesKey", "cloudtrail.amazonaws.com", ["kms:DescribeKey"]),
        # The documented condition is the log group's ARN in the encryption context, not aws:SourceAccount:
        # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
        _service(
            "CloudWatchLogsEncryptLogGroups",
            f"logs.{region}.amazonaws.com",
            ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
            {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
        ),
        _service("CloudWatchLogsDescribeKey", f"logs.{region}.amazonaws.com", ["kms:DescribeKey"]),
        # S3 Inventory writes the artifacts index SSE-KMS into the audit bucket:
        # https://docs.aws.amazon.com/AmazonS3/latest/userguide/configure-inventory.html
        _service(
            "S3InventoryEncrypts",
            "s3.amazonaws.com",
            ["kms:GenerateDataKey"],
            {"StringEquals": {"aws:SourceAccount": account_id}},
        ),
        *[
            _service(
                f"{principal.split('.')[0].capitalize()}PublishesToAlerts",
                principal,
                ["kms:GenerateDataKey*", "kms:Decrypt"],
            )
            for principal in TOPIC_PUBLISHERS
        ],
    ]


def key_policy(purpose: str, account_id: pulumi.Input[str], region: str) -> pulumi.Output[str]:
    """Root administers (so IAM policies grant use); account principals use the key via its services.

    Backup Audit Manager's report plan writes SSE-KMS objects into the audit bucket as the service-linked
    role AWSServiceRoleForBackupReports, and its guide asks the key policy to admit that role
    (https://docs.aws.amazon.com/aws-backup/latest/devguide/create-report-plan-api.html). The statement
    ``ServicesUseKeyOnBehalfOfAccount`` does exactly that for every principal of the account calling
    through S3 (``kms:CallerAccount`` + ``kms:ViaService``, the pattern AWS-managed keys use:
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-caller-account),
    without naming a role that may not exist yet when the key is created (KMS rejects a policy naming an
    unknown principal, the trap of issue 10 item 2).
    """
    root = pulumi.Output.concat("arn:aws:iam::", account_id, ":root")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "ServicesUseKeyOnBehalfOfAccount",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:DescribeKey",
                "kms:CreateGrant",
            ],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:CallerAccount": account_id,
                    "kms:ViaService": [f"{svc}.{region}.amazonaws.com" for svc in VIA_SERVICES[purpose]],
                }
            },
        },
    ]
    if purpose == "logs":
        statements.extend(logs_statements(account_id, region))
    return policy_document(statements)


class Keys(pulumi.ComponentResource):
    """One rotating customer-managed key (and alias) per purpose."""

    arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("maestro:keys:Keys", name, None, opts)
        region = args.key_region or args.region
        suffix = "-dr" if args.key_region else ""
        self.arns = {}
        for purpose in args.purposes:
            key = aws.kms.Key(
                f"{name}-{purpose}",
                description=f"Maestro {args.environment} {purpose} backups (runbook 1.1-1.3, rotated per 3)",
                enable_key_rotation=True,
                rotation_period_in_days=args.rotation_period_days,
                deletion_window_in_days=DELETION_WINDOW_DAYS,
                policy=key_policy(purpose, args.account_id, region),
                region=args.key_region,
                tags={**args.tags, "maestro:key-purpose": purpose},
                opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
            )
            aws.kms.Alias(
                f"{name}-{purpose}-alias",
                name=f"alias/{args.name_prefix}-{args.environment}-{purpose}{suffix}",
                target_key_id=key.key_id,
                region=args.key_region,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.arns[purpose] = key.arn
        self.register_outputs({"key_arns": self.arns})
