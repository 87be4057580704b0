"""scheduler-schedule-kms-validation: the KMS post-rotation validation runs at least monthly (runbook 3).

The schedule must target the KMS validation function, be enabled, run at least monthly, and its role must
be allowed to invoke the function."""

from __future__ import annotations

from maestro_policies._base import (
    KMS_VALIDATE_HANDLER,
    SCHEDULE,
    cron_kind,
    get,
    invocations,
    stack_rule,
)
from maestro_policies._schedules import schedule_problems

# Keys rotate yearly and on demand; a monthly check finds an unreadable canary within a month.
AT_LEAST_MONTHLY = ("hourly", "daily", "weekly", "monthly")
WHY = "runbook 3 validates keys monthly"


def _subjects(resources):  # type: ignore[no-untyped-def]
    return [s for s, _ in invocations(resources, KMS_VALIDATE_HANDLER)]


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    pairs = invocations(resources, KMS_VALIDATE_HANDLER)
    if not pairs:
        report_violation(
            "no EventBridge Scheduler schedule invokes the KMS validation (backupctl.handlers.kms_validate); "
            "runbook 3 validates keys after rotation at least monthly",
            None,
        )
    for schedule, function in pairs:
        problems = schedule_problems(resources, schedule, function, WHY)
        expression = get(schedule.props, "scheduleExpression", default="")
        if not problems and cron_kind(str(expression)) not in AT_LEAST_MONTHLY:
            problems.append(
                f"schedule `{schedule.name}` runs `{expression}`, less often than monthly (runbook 3)"
            )
        for problem in problems:
            report_violation(problem, schedule.urn)


RULE = stack_rule(
    "scheduler-schedule-kms-validation",
    "an enabled schedule validates every CMK at least monthly",
    "3",
    (),
    (SCHEDULE,),
    validate,
    subjects=_subjects,
)
