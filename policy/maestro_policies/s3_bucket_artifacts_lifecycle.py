"""s3-bucket-artifacts-lifecycle: ``artifacts/`` to STANDARD_IA at 30 d, GLACIER at 90 d, expired at 180 d,
with noncurrent-version expiration and incomplete-upload abort (runbook 1.2)."""

from __future__ import annotations

from maestro_policies._base import BUCKET, LIFECYCLE, as_list, get, label, settings_of, stack_rule
from maestro_policies._buckets import buckets

EXPECTED_TRANSITIONS = [(30, "STANDARD_IA"), (90, "GLACIER")]  # runbook 1.2, exactly
EXPECTED_EXPIRY_DAYS = 180  # runbook 1.2, exactly


def _rule_for_prefix(rules, prefix: str):  # type: ignore[no-untyped-def]
    for rule in rules:
        rule_prefix = get(rule, "filter", "prefix", default=get(rule, "prefix", default=""))
        if rule_prefix == prefix and get(rule, "status") == "Enabled":
            return rule
    return None


def problems_of(rule) -> list[str]:  # type: ignore[no-untyped-def]
    found = sorted(
        (get(t, "days", default=0), get(t, "storageClass")) for t in as_list(get(rule, "transitions"))
    )
    problems = []
    if found != EXPECTED_TRANSITIONS:
        problems.append(f"transitions are {found}, expected {EXPECTED_TRANSITIONS}")
    if get(rule, "expiration", "days") != EXPECTED_EXPIRY_DAYS:
        problems.append(
            f"expiration is {get(rule, 'expiration', 'days')} days, expected {EXPECTED_EXPIRY_DAYS}"
        )
    if not get(rule, "noncurrentVersionExpiration", "noncurrentDays"):
        problems.append("noncurrent versions never expire")
    if not get(rule, "abortIncompleteMultipartUpload", "daysAfterInitiation"):
        problems.append("incomplete multipart uploads are never aborted")
    return problems


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    for bucket in buckets(resources, "artifacts"):
        rules = [
            r for lc in settings_of(resources, bucket, LIFECYCLE) for r in as_list(get(lc.props, "rules"))
        ]
        rule = _rule_for_prefix(rules, "artifacts/")
        if rule is None:
            report_violation(
                f"{label(bucket)} has no enabled lifecycle rule for artifacts/ (runbook 1.2)", bucket.urn
            )
            continue
        problems = problems_of(rule)
        if problems:
            report_violation(
                f"{label(bucket)} artifacts/ lifecycle: {'; '.join(problems)} (runbook 1.2)", bucket.urn
            )


RULE = stack_rule(
    "s3-bucket-artifacts-lifecycle",
    "artifacts/ lifecycle is IA 30, GLACIER 90, expire 180",
    "1.2",
    ("CKV2_AWS_61", "CKV_AWS_300"),
    (BUCKET,),
    validate,
)
