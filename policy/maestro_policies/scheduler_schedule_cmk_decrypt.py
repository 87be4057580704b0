"""scheduler-schedule-cmk-decrypt: a schedule whose payload is under a CMK has an execution role that
may decrypt with it (runbook 1.3, 3).

EventBridge Scheduler decrypts a customer-managed-key payload as the schedule's execution role; without
kms:Decrypt no invocation ever happens and nothing fails loudly
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/encryption-rest.html, "Managing KMS keys").
moto does not model this, so the rule is the check.
"""

from __future__ import annotations

from maestro_policies._base import SCHEDULE, get, of_type, stack_rule
from maestro_policies._iam import role_statements
from maestro_policies._wiring import allows, role_of


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    for schedule in of_type(resources, SCHEDULE):
        key = get(schedule.props, "kmsKeyArn")
        if not isinstance(key, str) or not key:
            continue
        role = role_of(resources, schedule, "target", get(schedule.props, "target", "roleArn"))
        if role is None:
            continue
        if not allows(role_statements(resources, role), "kms:Decrypt", key):
            report_violation(
                f"schedule `{schedule.name}` encrypts its payload with {key} but its execution role "
                f"`{role.name}` may not kms:Decrypt it: Scheduler can never invoke the target; grant it",
                schedule.urn,
            )


RULE = stack_rule(
    "scheduler-schedule-cmk-decrypt",
    "a schedule with a customer-managed key has an execution role that may decrypt with it",
    "1.3",
    (),
    (SCHEDULE,),
    validate,
)
