"""rds-instance-backup-retention: automated backups (and so PITR) kept at least 7 days (runbook 1.1)."""

from __future__ import annotations

from maestro_policies._base import RDS_INSTANCE, get, label, resource_rule, threshold, threshold_schema

MIN_RETENTION_DAYS = 7  # runbook 1.1: daily snapshots retained 7 days


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    if args.resource_type != RDS_INSTANCE:
        return
    minimum = threshold(args, "minRetentionDays", MIN_RETENTION_DAYS, MIN_RETENTION_DAYS)
    days = get(args.props, "backupRetentionPeriod", default=0)
    if days < minimum:
        state = "disabled (0 days)" if not days else f"{days} days"
        report_violation(
            f"{label(args)} backup retention is {state}; runbook 1.1 requires >= {minimum} "
            "(set backup_retention_period)",
            None,
        )


RULE = resource_rule(
    "rds-instance-backup-retention",
    "RDS automated backups retained >= 7 days (PITR on)",
    "1.1",
    ("RDS.11", "CKV_AWS_133"),
    (RDS_INSTANCE,),
    validate,
    config={
        "minRetentionDays": threshold_schema(MIN_RETENTION_DAYS, MIN_RETENTION_DAYS, "floor 7, runbook 1.1")
    },
)
