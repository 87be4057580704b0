"""cloudtrail-trail-multi-region-validation: the audit trail sees every region and is verifiable
(runbook 4)."""

from __future__ import annotations

from maestro_policies._base import TRAIL, get, label, of_type, stack_rule


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    trails = of_type(args.resources, TRAIL)
    if not trails:
        report_violation("no CloudTrail trail in the stack; runbook 4 requires an audit trail", None)
    for trail in trails:
        missing = [
            name
            for name, prop in (
                ("multi-region", "isMultiRegionTrail"),
                ("log file validation", "enableLogFileValidation"),
            )
            if not get(trail.props, prop, default=False)
        ]
        if not get(trail.props, "kmsKeyId"):
            missing.append("KMS encryption")
        if missing:
            report_violation(
                f"{label(trail)} lacks {', '.join(missing)} (set is_multi_region_trail, "
                "enable_log_file_validation, kms_key_id)",
                trail.urn,
            )


RULE = stack_rule(
    "cloudtrail-trail-multi-region-validation",
    "a CloudTrail trail, multi-region, with log file validation and a CMK",
    "4",
    ("CloudTrail.1", "CloudTrail.2", "CloudTrail.4", "CKV_AWS_67", "CKV_AWS_36"),
    (TRAIL,),
    validate,
)
