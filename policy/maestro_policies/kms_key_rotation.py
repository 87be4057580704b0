"""kms-key-rotation: every customer-managed key rotates at least yearly, and is enabled (runbook 3).

KMS does not rotate a disabled key, and nothing encrypted under it can be read: a key that "rotates" but
is disabled fails runbook 3 as surely as one that never rotates."""

from __future__ import annotations

from maestro_policies._base import KMS_KEY, days, get, label, limit, number, resource_rule

MAX_ROTATION_DAYS = 365  # runbook 3: CMKs rotated annually
MIN_ROTATION_DAYS = 90  # the shortest period KMS accepts
KMS_DEFAULT_PERIOD = 365  # what KMS uses when rotation_period_in_days is not set


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    if args.resource_type != KMS_KEY:
        return
    if (
        get(args.props, "keyUsage", default="ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT"
        or get(args.props, "customerMasterKeySpec", default="SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT"
    ):
        args.not_applicable("asymmetric and HMAC keys cannot rotate automatically")
    ceiling = limit(args, "maxRotationDays", MAX_ROTATION_DAYS, "3", "<=")
    if get(args.props, "isEnabled", default=True) is False:
        report_violation(
            f"{label(args)} is disabled: KMS does not rotate it and nothing encrypted under it can be read "
            "(set is_enabled=True; runbook 3)",
            None,
        )
    if get(args.props, "enableKeyRotation", default=False) is not True:
        report_violation(
            f"{label(args)} does not rotate; runbook 3 requires yearly rotation "
            "(set enable_key_rotation=True)",
            None,
        )
        return
    found = get(args.props, "rotationPeriodInDays", default=KMS_DEFAULT_PERIOD)
    period = number(found)
    if period is None or period > ceiling.value:
        report_violation(
            f"{label(args)} rotates every {days(found)}; {ceiling.phrase} (set rotation_period_in_days)",
            None,
        )


RULE = resource_rule(
    "kms-key-rotation",
    "KMS customer-managed keys are enabled and rotate with a period <= 365 days",
    "3",
    ("KMS.4", "CKV_AWS_7"),
    (KMS_KEY,),
    validate,
    config={
        "maxRotationDays": {
            "type": "integer",
            "default": MAX_ROTATION_DAYS,
            "minimum": MIN_ROTATION_DAYS,
            "maximum": MAX_ROTATION_DAYS,
            "description": "ceiling 365, runbook 3; KMS accepts 90 to 2560",
        }
    },
)
