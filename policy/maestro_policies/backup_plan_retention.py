"""backup-plan-retention: a daily rule kept >= 7 days and a weekly rule kept >= 30 days (runbook 1.1)."""

from __future__ import annotations

from maestro_policies._backup import kept_days, kind_of, rules_of
from maestro_policies._base import (
    BACKUP_PLAN,
    days,
    get,
    limit,
    of_type,
    stack_rule,
    threshold_schema,
)

DAILY_DAYS = 7  # runbook 1.1 daily snapshots, 7 days
WEEKLY_DAYS = 30  # runbook 1.1 weekly basebackups, 30 days
MAX_DAYS = 36500  # a hundred years: anything longer is a typo


def _plans_with_schedules(resources):  # type: ignore[no-untyped-def]
    return [
        p for p in of_type(resources, BACKUP_PLAN) if {kind_of(r) for r in rules_of(p)} & {"daily", "weekly"}
    ]


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    needed = {
        "daily": limit(args, "dailyRetentionDays", DAILY_DAYS, "1.1"),
        "weekly": limit(args, "weeklyRetentionDays", WEEKLY_DAYS, "1.1"),
    }
    best = {"daily": 0.0, "weekly": 0.0}
    for plan in of_type(args.resources, BACKUP_PLAN):
        for rule in rules_of(plan):
            kind = kind_of(rule)
            if kind not in best:
                continue
            keep = kept_days(get(rule, "lifecycle"))
            if keep is None or keep < needed[kind].value:
                report_violation(
                    f"backup plan `{plan.name}` rule `{get(rule, 'ruleName')}` keeps recovery points "
                    f"{days(get(rule, 'lifecycle', 'deleteAfter'))}; {needed[kind].phrase}",
                    plan.urn,
                )
            best[kind] = max(best[kind], keep or 0.0)
    for kind in ("daily", "weekly"):
        if best[kind] < needed[kind].value:
            report_violation(
                f"no AWS Backup rule runs {kind} and keeps its recovery points long enough "
                f"({needed[kind].phrase} days); add a {kind} rule with lifecycle.delete_after",
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
        "dailyRetentionDays": threshold_schema(DAILY_DAYS, DAILY_DAYS, "floor 7, runbook 1.1", MAX_DAYS),
        "weeklyRetentionDays": threshold_schema(WEEKLY_DAYS, WEEKLY_DAYS, "floor 30, runbook 1.1", MAX_DAYS),
    },
    suppressible=False,
    subjects=_plans_with_schedules,
)
