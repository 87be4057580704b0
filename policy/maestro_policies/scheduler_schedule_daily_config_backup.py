"""scheduler-schedule-daily-config-backup: the config backup runs every day (runbook 1.3)."""

from __future__ import annotations

from maestro_policies._base import (
    CONFIG_BACKUP_HANDLER,
    SCHEDULE,
    cron_kind,
    get,
    schedules_invoking,
    stack_rule,
)


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    schedules = schedules_invoking(list(args.resources), CONFIG_BACKUP_HANDLER)
    if not schedules:
        report_violation(
            "no EventBridge Scheduler schedule invokes the config backup (runbook 1.3 daily sync)", None
        )
    for schedule in schedules:
        expression = str(get(schedule.props, "scheduleExpression", default=""))
        if get(schedule.props, "state", default="ENABLED") != "ENABLED":
            report_violation(
                f"schedule `{schedule.name}` is disabled; runbook 1.3 backs config up daily", schedule.urn
            )
        elif cron_kind(expression) != "daily":
            report_violation(
                f"schedule `{schedule.name}` runs `{expression}`, not daily (runbook 1.3)", schedule.urn
            )


RULE = stack_rule(
    "scheduler-schedule-daily-config-backup",
    "an enabled daily schedule runs the config backup",
    "1.3",
    (),
    (SCHEDULE,),
    validate,
)
