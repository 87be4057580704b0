"""kms-key-rotation: every customer-managed key rotates at least yearly (runbook 3)."""

from __future__ import annotations

from maestro_policies._base import KMS_KEY, get, label, resource_rule, threshold

MAX_ROTATION_DAYS = 365  # runbook 3: CMKs rotated annually
KMS_DEFAULT_PERIOD = 365  # what KMS uses when rotation_period_in_days is not set


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    if args.resource_type != KMS_KEY:
        return
    if (
        get(args.props, "keyUsage", default="ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT"
        or get(args.props, "customerMasterKeySpec", default="SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT"
    ):
        return  # asymmetric and HMAC keys cannot rotate automatically
    limit = min(threshold(args, "maxRotationDays", MAX_ROTATION_DAYS, 90), MAX_ROTATION_DAYS)
    if not get(args.props, "enableKeyRotation", default=False):
        report_violation(
            f"{label(args)} does not rotate; runbook 3 requires yearly rotation "
            "(set enable_key_rotation=True)",
            None,
        )
        return
    period = get(args.props, "rotationPeriodInDays", default=KMS_DEFAULT_PERIOD)
    if period > limit:
        report_violation(
            f"{label(args)} rotates every {period} days; runbook 3 requires <= {limit} "
            "(set rotation_period_in_days)",
            None,
        )


RULE = resource_rule(
    "kms-key-rotation",
    "KMS customer-managed keys rotate with a period <= 365 days",
    "3",
    ("KMS.4", "CKV_AWS_7"),
    (KMS_KEY,),
    validate,
    config={
        "maxRotationDays": {
            "type": "integer",
            "default": MAX_ROTATION_DAYS,
            "minimum": 90,
            "maximum": MAX_ROTATION_DAYS,
            "description": "ceiling 365, runbook 3",
        }
    },
)
