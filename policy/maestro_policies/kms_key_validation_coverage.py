"""kms-key-validation-coverage: the monthly KMS validation covers every key of the stack, the DR
region's included, and its role may use each of them (runbook 3).

Runbook 3 validates keys after rotation; a key the validation function is not told about (its
MAESTRO_KEY_ARNS) or may not use (its role) is never validated, and its failure is found in a restore."""

from __future__ import annotations

import json

from maestro_policies._base import (
    FUNCTION,
    KMS_KEY,
    KMS_VALIDATE_HANDLER,
    get,
    label,
    of_type,
    stack_rule,
)
from maestro_policies._iam import allows, role_for, role_statements

ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:DescribeKey", "kms:GetKeyRotationStatus")


def _told(function) -> set[str]:  # type: ignore[no-untyped-def]
    text = get(function.props, "environment", "variables", "MAESTRO_KEY_ARNS", default="{}")
    try:
        arns = json.loads(text) if isinstance(text, str) else text
    except json.JSONDecodeError:
        return set()
    return {str(v) for v in arns.values()} if isinstance(arns, dict) else set()


def _keys(resources):  # type: ignore[no-untyped-def]
    return [
        k
        for k in of_type(resources, KMS_KEY)
        if get(k.props, "keyUsage", default="ENCRYPT_DECRYPT") == "ENCRYPT_DECRYPT"
    ]


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    functions = [f for f in of_type(resources, FUNCTION) if get(f.props, "handler") == KMS_VALIDATE_HANDLER]
    if not functions:
        report_violation(
            "no KMS validation function (handler backupctl.handlers.kms_validate) in the stack (runbook 3)",
            None,
        )
        return
    told = set().union(*(_told(f) for f in functions))
    roles = [r for r in (role_for(resources, f, "role") for f in functions) if r is not None]
    statements = [s for r in roles for s in role_statements(resources, r)]
    for key in _keys(resources):
        arn = get(key.props, "arn")
        region = get(key.props, "region") or "the stack's region"
        if not isinstance(arn, str) or arn not in told:
            report_violation(
                f"{label(key)} ({region}) is not in the KMS validation's MAESTRO_KEY_ARNS; runbook 3 "
                "validates every key after rotation",
                key.urn,
            )
        elif not all(allows(statements, action, arn) for action in ACTIONS):
            report_violation(
                f"{label(key)} ({region}) cannot be used by the KMS validation's role (needs "
                f"{', '.join(ACTIONS)}); runbook 3",
                key.urn,
            )


RULE = stack_rule(
    "kms-key-validation-coverage",
    "the monthly KMS validation covers and may use every key, DR region included",
    "3",
    (),
    (KMS_KEY,),
    validate,
    subjects=_keys,
)
