"""lambda-function-tracing-permissions: a function with Active tracing may upload traces, and is created
only after the role policy that says so (runbook 1.3, 3: the scheduled jobs must deploy).

Lambda rejects CreateFunction with Active tracing when the execution role lacks
xray:PutTraceSegments / xray:PutTelemetryRecords
(https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html); a role policy created in parallel
with the function races it.
"""

from __future__ import annotations

from maestro_policies._base import FUNCTION, get, of_type, policy_statements, stack_rule
from maestro_policies._iam import managed_policies, role_statements
from maestro_policies._wiring import allows, role_of, role_policies

XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
XRAY_MANAGED = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"


def _grants_xray(statements) -> bool:  # type: ignore[no-untyped-def]
    return all(allows(statements, action, "*") for action in XRAY_ACTIONS)


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    for function in of_type(resources, FUNCTION):
        if get(function.props, "tracingConfig", "mode") != "Active":
            continue
        role = role_of(resources, function, "role", get(function.props, "role"))
        if role is None or XRAY_MANAGED in managed_policies(resources, role):
            continue  # the role is not in this stack, or AWS's managed policy grants X-Ray
        if not _grants_xray(role_statements(resources, role)):
            report_violation(
                f"function `{function.name}` has Active tracing but its role `{role.name}` may not "
                f'{" / ".join(XRAY_ACTIONS)}: CreateFunction fails; grant them on "*" or drop tracing',
                function.urn,
            )
            continue
        granting = [
            p
            for p in role_policies(resources, role)
            if _grants_xray(policy_statements(get(p.props, "policy")))
        ]
        waits = {d.urn for d in function.dependencies}
        if granting and not any(p.urn in waits for p in granting):
            report_violation(
                f"function `{function.name}` does not depend on `{granting[0].name}`, which grants its "
                "X-Ray permissions: both are created in parallel and CreateFunction can fail; add depends_on",
                function.urn,
            )


RULE = stack_rule(
    "lambda-function-tracing-permissions",
    "a function with Active tracing may upload traces and waits for the role policy granting it",
    "1.3",
    (),
    (FUNCTION,),
    validate,
)
