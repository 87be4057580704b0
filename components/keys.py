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

# Which services may use each purpose's key through their regional endpoint (kms:ViaService).
VIA_SERVICES: Mapping[str, tuple[str, ...]] = {
    "rds": ("rds", "secretsmanager"),
    "backup": ("backup", "rds"),
    "storage": ("s3",),
    "config": ("s3", "lambda", "ssm"),
    "logs": ("s3", "sns", "logs"),
}
# Service principals that encrypt on their own behalf (not via a caller), per purpose.
SERVICE_PRINCIPALS: Mapping[str, tuple[str, ...]] = {
    "logs": (
        "cloudtrail.amazonaws.com",
        "events.amazonaws.com",
        "backup.amazonaws.com",
        "s3.amazonaws.com",
        "scheduler.amazonaws.com",
    ),
    "config": ("scheduler.amazonaws.com",),
}
PURPOSES: tuple[str, ...] = tuple(VIA_SERVICES)


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


def key_policy(purpose: str, account_id: pulumi.Input[str], region: str) -> pulumi.Output[str]:
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
    principals = SERVICE_PRINCIPALS.get(purpose, ())
    if purpose == "logs":
        principals = (*principals, f"logs.{region}.amazonaws.com")
    if principals:
        statements.append(
            {
                "Sid": "ServicePrincipalsEncrypt",
                "Effect": "Allow",
                "Principal": {"Service": list(principals)},
                "Action": ["kms:GenerateDataKey*", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        )
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
