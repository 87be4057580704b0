"""scheduler-schedule-daily-config-backup: the config backup runs every day, over every configured
parameter path (runbook 1.3).

The schedule must target the config-backup function, be enabled and run daily, its role must be allowed
to invoke the function, and the function must be told every configured path (MAESTRO_PARAMETER_PATHS;
the stack's ``parameterPaths`` output when the deployment has it) and be allowed to read each of them:
a path left out is a policy or routing pin that is never backed up."""

from __future__ import annotations

from maestro_policies._base import (
    CONFIG_BACKUP_HANDLER,
    SCHEDULE,
    as_list,
    cron_kind,
    get,
    invocations,
    of_type,
    stack_rule,
)
from maestro_policies._iam import allows, role_for, role_statements
from maestro_policies._schedules import arn_parts, schedule_problems

WHY = "runbook 1.3 backs configuration up daily"
STACK = "pulumi:pulumi:Stack"


def _configured(resources) -> list[str]:  # type: ignore[no-untyped-def]
    """The stack's parameterPaths output, when the deployment carries its root stack outputs."""
    return [str(p) for s in of_type(resources, STACK) for p in as_list(get(s.props, "parameterPaths"))]


def _path_problems(resources, function) -> list[str]:  # type: ignore[no-untyped-def]
    told_text = get(function.props, "environment", "variables", "MAESTRO_PARAMETER_PATHS", default="")
    told = [p for p in str(told_text).split(",") if p]
    if not told:
        return [f"function `{function.name}` is told no parameter paths (MAESTRO_PARAMETER_PATHS); {WHY}"]
    problems = [
        f"function `{function.name}` is not told the configured path {path} (MAESTRO_PARAMETER_PATHS)"
        for path in _configured(resources)
        if path not in told
    ]
    role = role_for(resources, function, "role")
    statements = role_statements(resources, role) if role is not None else []
    region, account = arn_parts(get(function.props, "arn"))
    problems += [
        f"function `{function.name}` may not ssm:GetParametersByPath {path}; that path is never backed up"
        for path in told
        if not allows(
            statements, "ssm:GetParametersByPath", f"arn:aws:ssm:{region}:{account}:parameter{path}"
        )
    ]
    return problems


def _subjects(resources):  # type: ignore[no-untyped-def]
    return [s for s, _ in invocations(resources, CONFIG_BACKUP_HANDLER)]


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    pairs = invocations(resources, CONFIG_BACKUP_HANDLER)
    if not pairs:
        report_violation(
            "no EventBridge Scheduler schedule invokes the config backup (runbook 1.3 daily sync)", None
        )
    for schedule, function in pairs:
        problems = schedule_problems(resources, schedule, function, WHY)
        expression = get(schedule.props, "scheduleExpression", default="")
        if not problems and cron_kind(str(expression)) != "daily":
            problems.append(f"schedule `{schedule.name}` runs `{expression}`, not daily (runbook 1.3)")
        for problem in problems + _path_problems(resources, function):
            report_violation(problem, schedule.urn)


RULE = stack_rule(
    "scheduler-schedule-daily-config-backup",
    "an enabled daily schedule runs the config backup over every configured path",
    "1.3",
    (),
    (SCHEDULE,),
    validate,
    subjects=_subjects,
)
