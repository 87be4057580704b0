"""scheduler-schedule-daily-config-backup: the config backup runs every day (runbook 1.3)."""

from __future__ import annotations

from maestro_policies._base import (
    CONFIG_BACKUP_HANDLER,
    FUNCTION,
    SCHEDULE,
    cron_kind,
    get,
    of_type,
    stack_rule,
)


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    functions = [f for f in of_type(resources, FUNCTION) if get(f.props, "handler") == CONFIG_BACKUP_HANDLER]
    targets = {get(f.props, "arn") for f in functions} | {f.urn for f in functions}
    schedules = [
        s
        for s in of_type(resources, SCHEDULE)
        if get(s.props, "target", "arn") in targets
        or any(d.urn in targets for d in s.property_dependencies.get("target", []))
    ]
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
