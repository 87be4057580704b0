"""rds-instance-backup-retention: automated backups (and so PITR) kept at least 7 days (runbook 1.1)."""

from __future__ import annotations

from maestro_policies._base import (
    RDS_INSTANCE,
    days,
    get,
    label,
    limit,
    number,
    resource_rule,
    threshold_schema,
)

MIN_RETENTION_DAYS = 7  # runbook 1.1: daily snapshots retained 7 days
RDS_MAX_RETENTION_DAYS = 35  # RDS keeps automated backups at most 35 days


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    if args.resource_type != RDS_INSTANCE:
        return
    minimum = limit(args, "minRetentionDays", MIN_RETENTION_DAYS, "1.1")
    found = get(args.props, "backupRetentionPeriod", default=0)
    count = number(found)
    if count is None or count < minimum.value:
        state = "disabled (0 days)" if count == 0 else days(found)
        report_violation(
            f"{label(args)} backup retention is {state}; {minimum.phrase} (set backup_retention_period)",
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
        "minRetentionDays": threshold_schema(
            MIN_RETENTION_DAYS,
            MIN_RETENTION_DAYS,
            "floor 7, runbook 1.1; RDS allows 35",
            RDS_MAX_RETENTION_DAYS,
        )
    },
    suppressible=False,
)
