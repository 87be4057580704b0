"""RDS PostgreSQL with the runbook's backups: 7-day automated snapshots and PITR (runbook 1.1).

``DatabaseNetwork`` holds the subnet group and security group the databases share, and in staging
the isolated subnet group and security group that restore drills use (runbook 2.1 step 1: nothing
routes to or from prod). ``Database`` is one instance: CMK storage, master password in Secrets
Manager under a CMK, copy tags to snapshots, final snapshot and automated backups kept on delete,
deletion protection, logs exported, and an optional cross-region copy of its automated backups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.settings import DatabaseSpec

POSTGRES_PORT = 5432
BACKUP_WINDOW = "02:00-03:00"  # UTC, before the AWS Backup daily rule at 03:00
# UTC. AWS Backup starts no database backup in the hour before or during it, so it stays clear of the
# daily (03:00) and weekly (Sunday 04:00) rules' start windows (components/backup_plan.py).
MAINTENANCE_WINDOW = "sun:07:00-sun:08:00"
# AWS Backup continuous backup (PITR) takes over the automated-backup settings of the instances it
# protects and rewrites them to match its rule; a program value would fight it on every `pulumi up`.
# https://docs.aws.amazon.com/aws-backup/latest/devguide/point-in-time-recovery.html
BACKUP_MANAGED_FIELDS = ["backupRetentionPeriod", "backupWindow"]
# An adopted instance (``adoptIdentifier``) keeps what must never be rewritten on the first `pulumi up`
# after `pulumi import`: a change of any of these would replace the instance (engine, encryption, key,
# database name, master user), move or cut it off (subnet group, security groups), resize it, upgrade it,
# or rotate its master password under the applications (README "Adopting an existing database").
ADOPTED_KEPT_FIELDS = [
    "engine",
    "engineVersion",
    "storageEncrypted",
    "kmsKeyId",
    "dbName",
    "username",
    "manageMasterUserPassword",
    "masterUserSecretKmsKeyId",
    "dbSubnetGroupName",
    "vpcSecurityGroupIds",
    "instanceClass",
    "allocatedStorage",
    "maxAllocatedStorage",
    "storageType",
    "multiAz",
    "performanceInsightsKmsKeyId",
]
BACKUP_SELECTION_TAG = ("maestro:backup", "true")  # AWS Backup selects databases by this tag
DRILL_TARGET_TAG = "maestro:drill-target"


@dataclass(frozen=True)
class DatabaseNetworkArgs:
    environment: str
    name_prefix: str
    vpc_id: str
    subnet_ids: Sequence[str]
    app_security_group_ids: Sequence[str] = ()
    drill_subnet_ids: Sequence[str] = ()  # staging only: an isolated subnet group for restore drills
    tags: Mapping[str, str] = field(default_factory=dict)


class DatabaseNetwork(pulumi.ComponentResource):
    subnet_group_name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    drill_subnet_group_name: pulumi.Output[str] | None = None
    drill_security_group_id: pulumi.Output[str] | None = None

    def __init__(
        self, name: str, args: DatabaseNetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("maestro:database:DatabaseNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        base = f"{args.name_prefix}-{args.environment}"
        group = aws.rds.SubnetGroup(
            f"{name}-subnets",
            name=f"{base}-db",
            subnet_ids=list(args.subnet_ids),
            description="Maestro PostgreSQL subnets",
            tags=dict(args.tags),
            opts=child,
        )
        security_group = aws.ec2.SecurityGroup(
            f"{name}-db-sg",
            name=f"{base}-db",
            description="Maestro PostgreSQL: from application security groups only",
            vpc_id=args.vpc_id,
            ingress=[
                {
                    "protocol": "tcp",
                    "from_port": POSTGRES_PORT,
                    "to_port": POSTGRES_PORT,
                    "security_groups": list(args.app_security_group_ids),
                    "description": "application tier",
                }
            ]
            if args.app_security_group_ids
            else [],
            tags=dict(args.tags),
            opts=child,
        )
        self.subnet_group_name = group.name
        self.security_group_id = security_group.id
        if args.drill_subnet_ids:
            drill_group = aws.rds.SubnetGroup(
                f"{name}-drill-subnets",
                name=f"{base}-drill",
                subnet_ids=list(args.drill_subnet_ids),
                description="Restore drills only (runbook 2.1 step 1)",
                tags={**args.tags, DRILL_TARGET_TAG: "true"},
                opts=child,
            )
            # Only members of the drill group reach a restored database; no egress at all.
            drill_sg = aws.ec2.SecurityGroup(
                f"{name}-drill-sg",
                name=f"{base}-drill",
                description="Restore drills: isolated, reachable from the drill runner only",
                vpc_id=args.vpc_id,
                ingress=[
                    {
                        "protocol": "tcp",
                        "from_port": POSTGRES_PORT,
                        "to_port": POSTGRES_PORT,
                        "self": True,
                        "description": "drill runner",
                    }
                ],
                egress=[],
                tags={**args.tags, DRILL_TARGET_TAG: "true"},
                opts=child,
            )
            self.drill_subnet_group_name = drill_group.name
            self.drill_security_group_id = drill_sg.id
        self.register_outputs(
            {"subnet_group_name": self.subnet_group_name, "security_group_id": self.security_group_id}
        )


@dataclass(frozen=True)
class DatabaseArgs:
    spec: DatabaseSpec
    environment: str
    name_prefix: str
    kms_key_arn: pulumi.Input[str]
    subnet_group_name: pulumi.Input[str]
    security_group_ids: Sequence[pulumi.Input[str]]
    backup_retention_days: int
    deletion_protection: bool
    drill_target: bool = False
    dr_region: str | None = None
    dr_kms_key_arn: pulumi.Input[str] | None = None
    protect: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


def ignored_fields(spec: DatabaseSpec) -> list[str]:
    """Engine property names the program leaves to AWS Backup (critical) or to the adopted instance."""
    fields = list(BACKUP_MANAGED_FIELDS) if spec.criticality == "critical" else []
    return fields + (list(ADOPTED_KEPT_FIELDS) if spec.adopt_identifier else [])


class Database(pulumi.ComponentResource):
    identifier: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("maestro:database:Database", name, None, opts)
        spec = args.spec
        identifier = spec.adopt_identifier or f"{args.name_prefix}-{args.environment}-{spec.name}"
        tags = {
            **args.tags,
            BACKUP_SELECTION_TAG[0]: BACKUP_SELECTION_TAG[1],
            "maestro:database": spec.name,
            "maestro:criticality": spec.criticality,
            "maestro:rpo-minutes": str(spec.rpo_minutes),
            "maestro:rto-minutes": str(spec.rto_minutes),
            DRILL_TARGET_TAG: "true" if args.drill_target else "false",
        }
        instance = aws.rds.Instance(
            f"{name}-instance",
            identifier=identifier,
            engine="postgres",
            engine_version=spec.engine_version,
            instance_class=spec.instance_class,
            allocated_storage=spec.allocated_storage_gb,
            max_allocated_storage=spec.max_allocated_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.kms_key_arn,
            db_name=spec.name.replace("-", "_"),
            username="maestro_admin",
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.kms_key_arn,
            db_subnet_group_name=args.subnet_group_name,
            vpc_security_group_ids=list(args.security_group_ids),
            publicly_accessible=False,
            multi_az=spec.multi_az,
            backup_retention_period=args.backup_retention_days,
            backup_window=BACKUP_WINDOW,
            maintenance_window=MAINTENANCE_WINDOW,
            copy_tags_to_snapshot=True,
            deletion_protection=args.deletion_protection,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{identifier}-final",
            delete_automated_backups=False,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=args.kms_key_arn,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            iam_database_authentication_enabled=True,
            auto_minor_version_upgrade=True,
            apply_immediately=False,
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect,
                retain_on_delete=args.protect,
                ignore_changes=ignored_fields(spec),
            ),
        )
        self.identifier = instance.identifier
        self.arn = instance.arn
        if args.dr_region is not None:
            # Region loss: automated backups (and so PITR) replicated to the DR region under its own CMK.
            aws.rds.InstanceAutomatedBackupsReplication(
                f"{name}-dr-backups",
                source_db_instance_arn=instance.arn,
                retention_period=args.backup_retention_days,
                kms_key_id=args.dr_kms_key_arn,
                region=args.dr_region,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"identifier": self.identifier, "arn": self.arn})
