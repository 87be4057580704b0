"""AWS Backup: the CMK-encrypted vault, its lock, and the runbook's schedule (runbook 1.1, 2).

The plan has a daily rule kept 7 days and a weekly rule kept 30 days; critical databases also get a
continuous (PITR) rule in a second plan, selected by their criticality tag. Every database is selected
by the ``maestro:backup=true`` tag. The vault (and the DR vault) is locked (compliance mode in prod),
has an access policy that denies deleting recovery points to everyone but the break-glass role, and
notifies its region's alerts topic. Where the stack hosts restore drills (staging), a quarterly restore
testing plan restores the newest recovery point into the isolated drill network.

Prod runs no AWS Backup restore testing: it has no isolated drill network, and a restore test without
one lands in the default VPC and security group (AWS Backup infers defaults for what is not overridden:
https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing-inferred-metadata.html). Runbook 2
puts the quarterly drill on staging, where ``backupctl drill`` and this plan run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.database import BACKUP_SELECTION_TAG
from components.iam import assume_role_policy, policy_document
from components.settings import VAULT_LOCK_MAX_RETENTION_DAYS

DAILY_SCHEDULE = "cron(0 3 * * ? *)"  # after the RDS backup window
# AWS Backup does not start a database backup in the hour before or during the instance's maintenance
# window (https://docs.aws.amazon.com/aws-backup/latest/devguide/plan-options-and-configuration.html);
# a job still waiting at the end of its start window EXPIREs. Daily 03:00-04:00 and weekly 04:00-05:00
# both start before the hour ahead of the Sunday 07:00 maintenance window (components/database.py);
# the policy backup-plan-window-clear-of-maintenance keeps them apart.
WEEKLY_SCHEDULE = "cron(0 4 ? * SUN *)"
RESTORE_TEST_SCHEDULE = "cron(0 6 1 1,4,7,10 ? *)"  # quarterly (runbook 2)
START_WINDOW_MINUTES = 60
COMPLETION_WINDOW_MINUTES = 24 * 60
# Vault events that mean trouble. BACKUP_JOB_FAILED and RESTORE_JOB_FAILED are deprecated and no longer
# notify (https://docs.aws.amazon.com/aws-backup/latest/devguide/API_PutBackupVaultNotifications.html);
# failed backup and restore jobs reach the alerts topic through the EventBridge rule (components/audit.py).
# CONTINUOUS_BACKUP_INTERRUPTED is the one sign that PITR stopped.
VAULT_EVENTS = [
    "COPY_JOB_FAILED",
    "S3_BACKUP_OBJECT_FAILED",
    "S3_RESTORE_OBJECT_FAILED",
    "RECOVERY_POINT_MODIFIED",
    "CONTINUOUS_BACKUP_INTERRUPTED",
]
# What the vault access policy denies to everyone but the recovery-point administrators: exactly the
# actions the Config rule behind BACKUP_RECOVERY_POINT_MANUAL_DELETION_DISABLED looks for, with "*" as
# Principal and Resource (https://docs.aws.amazon.com/config/latest/developerguide/backup-recovery-point-manual-deletion-disabled.html).
# Vault access policies take no wildcards in Action
# (https://docs.aws.amazon.com/aws-backup/latest/devguide/create-a-vault-access-policy.html).
# PutBackupVaultAccessPolicy is in the list, so changing this policy later needs the break-glass role.
PROTECTED_RECOVERY_POINT_ACTIONS = [
    "backup:DeleteRecoveryPoint",
    "backup:UpdateRecoveryPointLifecycle",
    "backup:PutBackupVaultAccessPolicy",
]
BACKUP_ROLE_POLICIES = [
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
]


@dataclass(frozen=True)
class BackupPlanArgs:
    environment: str
    name_prefix: str
    kms_key_arn: pulumi.Input[str]
    daily_retention_days: int
    weekly_retention_days: int
    continuous_retention_days: int
    vault_lock_mode: str  # none | governance | compliance
    vault_lock_changeable_days: int
    alerts_topic_arn: pulumi.Input[str]
    critical_databases: bool
    recovery_point_admin_arns: Sequence[str]  # the break-glass role: may delete recovery points
    dr_alerts_topic_arn: pulumi.Input[str] | None = None
    schedule_timezone: str = "UTC"
    dr_region: str | None = None
    dr_kms_key_arn: pulumi.Input[str] | None = None
    drill_subnet_group_name: pulumi.Input[str] | None = None  # restore testing only where drills run
    drill_security_group_id: pulumi.Input[str] | None = None
    protect: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


class BackupPlan(pulumi.ComponentResource):
    vault_name: pulumi.Output[str]
    vault_arn: pulumi.Output[str]
    plan_id: pulumi.Output[str]
    pitr_plan_id: pulumi.Output[str] | None = None
    dr_vault_arn: pulumi.Output[str] | None = None
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: BackupPlanArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("maestro:backup_plan:BackupPlan", name, None, opts)
        self.name, self.args = name, args
        self.child = pulumi.ResourceOptions(parent=self)
        self.stateful = pulumi.ResourceOptions(
            parent=self, protect=args.protect, retain_on_delete=args.protect
        )
        self.base = f"{args.name_prefix}-{args.environment}"
        vault = self.vaults()
        role = self.role()
        self.plans(vault, role)
        self.restore_testing(vault, role)
        self.register_outputs(
            {"vault_name": self.vault_name, "vault_arn": self.vault_arn, "plan_id": self.plan_id}
        )

    def vaults(self) -> aws.backup.Vault:
        """The CMK-encrypted vault, locked, notifying the alerts topic; a locked DR vault when asked."""
        args = self.args
        vault = aws.backup.Vault(
            f"{self.name}-vault",
            name=f"{self.base}-vault",
            kms_key_arn=args.kms_key_arn,
            force_destroy=False,
            tags=dict(args.tags),
            opts=self.stateful,
        )
        self.vault_name, self.vault_arn = vault.name, vault.arn
        self.lock(vault, f"{self.name}-vault-lock", None)
        self.guard(vault, f"{self.name}-vault", args.alerts_topic_arn, None)
        self.copy_actions: list[Any] = []
        if args.dr_region is not None:
            dr_vault = aws.backup.Vault(
                f"{self.name}-dr-vault",
                name=f"{self.base}-dr-vault",
                kms_key_arn=args.dr_kms_key_arn,
                region=args.dr_region,
                force_destroy=False,
                tags=dict(args.tags),
                opts=self.stateful,
            )
            self.dr_vault_arn = dr_vault.arn
            self.lock(dr_vault, f"{self.name}-dr-vault-lock", args.dr_region)
            self.guard(dr_vault, f"{self.name}-dr-vault", args.dr_alerts_topic_arn, args.dr_region)
            self.copy_actions = [
                {
                    "destination_vault_arn": dr_vault.arn,
                    "lifecycle": {"delete_after": args.weekly_retention_days},
                }
            ]
        return vault

    def guard(
        self, vault: aws.backup.Vault, name: str, topic_arn: pulumi.Input[str] | None, region: str | None
    ) -> None:
        """The vault's access policy (no manual deletion) and its notifications to its region's topic."""
        aws.backup.VaultPolicy(
            f"{name}-policy",
            backup_vault_name=vault.name,
            policy=vault_access_policy(self.args.recovery_point_admin_arns),
            region=region,
            opts=self.child,
        )
        if topic_arn is not None:
            aws.backup.VaultNotifications(
                f"{name}-notifications",
                backup_vault_name=vault.name,
                sns_topic_arn=topic_arn,
                backup_vault_events=VAULT_EVENTS,
                region=region,
                opts=self.child,
            )

    def lock(self, vault: aws.backup.Vault, lock_name: str, region: str | None) -> None:
        # A lock with changeable_for_days becomes immutable (compliance mode) after that grace time;
        # without it the lock stays in governance mode and privileged IAM can still remove it.
        args = self.args
        if args.vault_lock_mode == "none":
            return
        aws.backup.VaultLockConfiguration(
            lock_name,
            backup_vault_name=vault.name,
            min_retention_days=args.daily_retention_days,
            max_retention_days=VAULT_LOCK_MAX_RETENTION_DAYS,
            changeable_for_days=args.vault_lock_changeable_days
            if args.vault_lock_mode == "compliance"
            else None,
            region=region,
            opts=self.stateful,
        )

    def role(self) -> aws.iam.Role:
        role = aws.iam.Role(
            f"{self.name}-role",
            name=f"{self.base}-backup",
            assume_role_policy=assume_role_policy("backup.amazonaws.com"),
            tags=dict(self.args.tags),
            opts=self.child,
        )
        for index, policy_arn in enumerate(BACKUP_ROLE_POLICIES):
            aws.iam.RolePolicyAttachment(
                f"{self.name}-role-policy-{index}", role=role.name, policy_arn=policy_arn, opts=self.child
            )
        self.role_arn = role.arn
        return role

    def rule(
        self, vault: aws.backup.Vault, rule_name: str, schedule: str, keep_days: int, **extra: Any
    ) -> Any:
        args = self.args
        return {
            "rule_name": rule_name,
            "target_vault_name": vault.name,
            "schedule": schedule,
            "schedule_expression_timezone": args.schedule_timezone,
            "start_window": START_WINDOW_MINUTES,
            "completion_window": COMPLETION_WINDOW_MINUTES,
            "lifecycle": {"delete_after": keep_days},
            "recovery_point_tags": {**args.tags, "maestro:rule": rule_name},
            **extra,
        }

    def plans(self, vault: aws.backup.Vault, role: aws.iam.Role) -> None:
        """Daily 7 d and weekly 30 d for every tagged database; continuous (PITR) for critical ones."""
        args, base = self.args, self.base
        plan = aws.backup.Plan(
            f"{self.name}-plan",
            name=f"{base}-daily-weekly",
            rules=[
                self.rule(
                    vault, "daily", DAILY_SCHEDULE, args.daily_retention_days, copy_actions=self.copy_actions
                ),
                self.rule(
                    vault,
                    "weekly",
                    WEEKLY_SCHEDULE,
                    args.weekly_retention_days,
                    copy_actions=self.copy_actions,
                ),
            ],
            tags=dict(args.tags),
            opts=self.child,
        )
        self.plan_id = plan.id
        selection_tag: list[Any] = [
            {"type": "STRINGEQUALS", "key": BACKUP_SELECTION_TAG[0], "value": BACKUP_SELECTION_TAG[1]}
        ]
        aws.backup.Selection(
            f"{self.name}-selection",
            name=f"{base}-tagged",
            plan_id=plan.id,
            iam_role_arn=role.arn,
            selection_tags=selection_tag,
            opts=self.child,
        )
        if not args.critical_databases:
            return
        # Continuous backup keeps PITR under the vault's lock too; its retention equals the RDS
        # retention so AWS Backup and the instance never disagree about it.
        pitr_plan = aws.backup.Plan(
            f"{self.name}-pitr-plan",
            name=f"{base}-continuous",
            rules=[
                self.rule(
                    vault,
                    "continuous",
                    "cron(0 * * * ? *)",
                    args.continuous_retention_days,
                    enable_continuous_backup=True,
                )
            ],
            tags=dict(args.tags),
            opts=self.child,
        )
        self.pitr_plan_id = pitr_plan.id
        aws.backup.Selection(
            f"{self.name}-pitr-selection",
            name=f"{base}-critical",
            plan_id=pitr_plan.id,
            iam_role_arn=role.arn,
            selection_tags=[{"type": "STRINGEQUALS", "key": "maestro:criticality", "value": "critical"}],
            opts=self.child,
        )

    def restore_testing(self, vault: aws.backup.Vault, role: aws.iam.Role) -> None:
        """Runbook 2: AWS Backup restores the newest recovery point every quarter into the drill network."""
        args = self.args
        if args.drill_subnet_group_name is None or args.drill_security_group_id is None:
            return  # no isolated network to restore into (prod): see the module docstring
        testing = aws.backup.RestoreTestingPlan(
            f"{self.name}-restore-testing",
            name=f"{args.name_prefix}_{args.environment}_quarterly".replace("-", "_"),
            schedule_expression=RESTORE_TEST_SCHEDULE,
            schedule_expression_timezone=args.schedule_timezone,
            start_window_hours=24,
            recovery_point_selection={
                "algorithm": "LATEST_WITHIN_WINDOW",
                "include_vaults": [vault.arn],
                "recovery_point_types": ["SNAPSHOT", "CONTINUOUS"],
                "selection_window_days": args.daily_retention_days,
            },
            tags=dict(args.tags),
            opts=self.child,
        )
        # Without vpcsecuritygroupids a restored database gets the VPC's default security group. The value
        # is a JSON list of ids; keys are not case sensitive.
        # https://docs.aws.amazon.com/aws-backup/latest/devguide/restore-testing-inferred-metadata.html
        overrides = pulumi.Output.all(args.drill_subnet_group_name, args.drill_security_group_id).apply(
            lambda v: {"dbsubnetgroupname": v[0], "vpcsecuritygroupids": json.dumps([v[1]])}
        )
        aws.backup.RestoreTestingSelection(
            f"{self.name}-restore-testing-selection",
            name="databases",
            restore_testing_plan_name=testing.name,
            protected_resource_type="RDS",
            iam_role_arn=role.arn,
            protected_resource_conditions={
                "string_equals": [{"key": f"aws:ResourceTag/{BACKUP_SELECTION_TAG[0]}", "value": "true"}]
            },
            restore_metadata_overrides=overrides,
            validation_window_hours=4,
            opts=self.child,
        )


def vault_access_policy(admin_arns: Sequence[str]) -> pulumi.Output[str]:
    """Deny deleting recovery points, shortening their lifecycle and rewriting this policy to everyone but
    the recovery-point administrators (issue 10 item 6; see PROTECTED_RECOVERY_POINT_ACTIONS)."""
    statement: dict[str, Any] = {
        "Sid": "DenyManualRecoveryPointDeletion",
        "Effect": "Deny",
        "Principal": "*",
        "Action": PROTECTED_RECOVERY_POINT_ACTIONS,
        "Resource": "*",
    }
    if admin_arns:
        statement["Condition"] = {"ArnNotLike": {"aws:PrincipalArn": list(admin_arns)}}
    return policy_document([statement])
