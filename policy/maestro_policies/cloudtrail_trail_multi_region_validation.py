"""cloudtrail-trail-multi-region-validation: the audit trail logs, sees every region and is verifiable
(runbook 4).

A trail that exists but does not log (logging stopped, or selectors that exclude management events and
name no data events) records nothing, however well it is configured otherwise."""

from __future__ import annotations

from maestro_policies._base import TRAIL, as_list, get, label, of_type, stack_rule


def _logs_nothing(trail) -> bool:  # type: ignore[no-untyped-def]
    selectors = as_list(get(trail.props, "eventSelectors"))
    advanced = as_list(get(trail.props, "advancedEventSelectors"))
    if advanced or not selectors:
        return False  # no selectors: CloudTrail logs management events by default
    return not any(
        get(s, "includeManagementEvents", default=True) is not False or as_list(get(s, "dataResources"))
        for s in selectors
    )


def _problems(trail) -> list[str]:  # type: ignore[no-untyped-def]
    problems = []
    if get(trail.props, "enableLogging", default=True) is False:
        problems.append("logging stopped (enable_logging is false)")
    if _logs_nothing(trail):
        problems.append("event selectors that exclude management events and name no data events")
    problems += [
        f"no {name}"
        for name, prop in (
            ("multi-region", "isMultiRegionTrail"),
            ("log file validation", "enableLogFileValidation"),
        )
        if get(trail.props, prop, default=False) is not True
    ]
    if not get(trail.props, "kmsKeyId"):
        problems.append("no KMS encryption")
    return problems


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    trails = of_type(args.resources, TRAIL)
    if not trails:
        report_violation("no CloudTrail trail in the stack; runbook 4 requires an audit trail", None)
    for trail in trails:
        problems = _problems(trail)
        if problems:
            report_violation(
                f"{label(trail)} has {'; '.join(problems)} (set enable_logging, is_multi_region_trail, "
                "enable_log_file_validation, kms_key_id)",
                trail.urn,
            )


RULE = stack_rule(
    "cloudtrail-trail-multi-region-validation",
    "a logging CloudTrail trail, multi-region, with log file validation and a CMK",
    "4",
    ("CloudTrail.1", "CloudTrail.2", "CloudTrail.4", "CKV_AWS_67", "CKV_AWS_36"),
    (TRAIL,),
    validate,
)
