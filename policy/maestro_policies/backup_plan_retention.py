"""backup-plan-retention: a daily rule kept >= 7 days and a weekly rule kept >= 30 days (runbook 1.1)."""

from __future__ import annotations

from maestro_policies._base import (
    BACKUP_PLAN,
    as_list,
    cron_kind,
    get,
    of_type,
    stack_rule,
    threshold,
    threshold_schema,
)

DAILY_DAYS = 7  # runbook 1.1 daily snapshots, 7 days
WEEKLY_DAYS = 30  # runbook 1.1 weekly basebackups, 30 days


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    daily_min = threshold(args, "dailyRetentionDays", DAILY_DAYS, DAILY_DAYS)
    weekly_min = threshold(args, "weeklyRetentionDays", WEEKLY_DAYS, WEEKLY_DAYS)
    plans = of_type(args.resources, BACKUP_PLAN)
    best = {"daily": 0, "weekly": 0}
    for plan in plans:
        for rule in as_list(get(plan.props, "rules")):
            if get(rule, "enableContinuousBackup", default=False):
                continue
            kind = cron_kind(str(get(rule, "schedule", default="")))
            keep = get(rule, "lifecycle", "deleteAfter", default=0) or 0
            if kind in best:
                best[kind] = max(best[kind], keep)
                needed = daily_min if kind == "daily" else weekly_min
                if keep and keep < needed:
                    report_violation(
                        f"backup plan `{plan.name}` rule `{get(rule, 'ruleName')}` keeps recovery "
                        f"points {keep} days; runbook 1.1 requires >= {needed}",
                        plan.urn,
                    )
    if best["daily"] < daily_min:
        report_violation(
            f"no AWS Backup rule runs daily and keeps >= {daily_min} days (runbook 1.1); add a daily "
            "rule with lifecycle.delete_after",
            None,
        )
    if best["weekly"] < weekly_min:
        report_violation(
            f"no AWS Backup rule runs weekly and keeps >= {weekly_min} days (runbook 1.1); add a "
            "weekly rule with lifecycle.delete_after",
            None,
        )


RULE = stack_rule(
    "backup-plan-retention",
    "AWS Backup plan with daily >= 7 d and weekly >= 30 d rules",
    "1.1",
    ("CKV_AWS_166",),
    (BACKUP_PLAN,),
    validate,
    config={
        "dailyRetentionDays": threshold_schema(DAILY_DAYS, DAILY_DAYS, "floor 7, runbook 1.1"),
        "weeklyRetentionDays": threshold_schema(WEEKLY_DAYS, WEEKLY_DAYS, "floor 30, runbook 1.1"),
    },
)
