"""What a scheduled job needs to run at all, as EventBridge Scheduler and Lambda evaluate it: the schedule
is enabled and its role may invoke the function it targets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from maestro_policies._base import get
from maestro_policies._iam import allows, role_for, role_statements


def arn_parts(arn: Any) -> tuple[str, str]:
    """(region, account) of an ARN, or ("*", "*")."""
    parts = arn.split(":") if isinstance(arn, str) else []
    return (parts[3] or "*", parts[4] or "*") if len(parts) > 5 else ("*", "*")


def schedule_problems(resources: Sequence[Any], schedule: Any, function: Any, why: str) -> list[str]:
    """Why ``schedule`` would not run ``function``: disabled, or a role that may not invoke it."""
    if get(schedule.props, "state", default="ENABLED") != "ENABLED":
        return [f"schedule `{schedule.name}` is disabled; {why}"]
    role = role_for(resources, schedule, "target", "roleArn")
    arn = get(function.props, "arn")
    if role is None:
        return [
            f"schedule `{schedule.name}` runs as {get(schedule.props, 'target', 'roleArn')!r}, a role the "
            "stack does not declare; declare it so its permission to invoke the function is checked"
        ]
    if not isinstance(arn, str) or not allows(role_statements(resources, role), "lambda:InvokeFunction", arn):
        return [
            f"schedule `{schedule.name}` role `{role.name}` may not lambda:InvokeFunction `{function.name}`; "
            f"every run fails ({why})"
        ]
    return []
