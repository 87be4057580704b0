"""scheduler-schedule-kms-validation: the KMS post-rotation validation runs at least monthly (runbook 3)."""

from __future__ import annotations

from maestro_policies._base import (
    KMS_VALIDATE_HANDLER,
    SCHEDULE,
    cron_kind,
    get,
    schedules_invoking,
    stack_rule,
)

# Keys rotate yearly and on demand; a monthly check finds an unreadable canary within a month.
AT_LEAST_MONTHLY = ("hourly", "daily", "weekly", "monthly")


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    schedules = schedules_invoking(list(args.resources), KMS_VALIDATE_HANDLER)
    if not schedules:
        report_violation(
            "no EventBridge Scheduler schedule invokes the KMS validation (backupctl.handlers.kms_validate); "
            "runbook 3 validates keys after rotation at least monthly",
            None,
        )
    for schedule in schedules:
        expression = str(get(schedule.props, "scheduleExpression", default=""))
        if get(schedule.props, "state", default="ENABLED") != "ENABLED":
            report_violation(
                f"schedule `{schedule.name}` is disabled; runbook 3 validates keys monthly", schedule.urn
            )
        elif cron_kind(expression) not in AT_LEAST_MONTHLY:
            report_violation(
                f"schedule `{schedule.name}` runs `{expression}`, less often than monthly (runbook 3)",
                schedule.urn,
            )


RULE = stack_rule(
    "scheduler-schedule-kms-validation",
    "an enabled schedule validates every CMK at least monthly",
    "3",
    (),
    (SCHEDULE,),
    validate,
)
