"""s3-bucket-artifacts-lifecycle: ``artifacts/`` to STANDARD_IA at 30 d, GLACIER at 90 d, expired at 180 d,
with noncurrent-version expiration and incomplete-upload abort (runbook 1.2).

Judged the way S3 applies lifecycle: every enabled rule reaching ``artifacts/`` counts (a rule on the
whole bucket, or on a part of ``artifacts/``), the earliest expiration and transitions win, a disabled
rule counts for nothing, and a bucket has one lifecycle configuration (two fight over it)."""

from __future__ import annotations

from maestro_policies._base import BUCKET, days, label, stack_rule
from maestro_policies._buckets import buckets
from maestro_policies._lifecycle import configurations, earliest, earliest_transitions, rules_reaching

PREFIX = "artifacts/"
EXPECTED_TRANSITIONS = [(30, "STANDARD_IA"), (90, "GLACIER")]  # runbook 1.2, exactly
EXPECTED_EXPIRY_DAYS = 180  # runbook 1.2, exactly


def _int(value: float) -> int | float:
    return int(value) if value.is_integer() else value


def problems_of(rules) -> list[str]:  # type: ignore[no-untyped-def]
    """What the enabled rules reaching artifacts/ do, together, against runbook 1.2."""
    found = sorted((_int(d), c) for c, d in earliest_transitions(rules).items())
    problems = []
    if found != EXPECTED_TRANSITIONS:
        problems.append(f"transitions are {found}, expected {EXPECTED_TRANSITIONS}")
    expiry = earliest(rules, "expiration", "days")
    if expiry is None:
        problems.append(f"objects never expire, expected {EXPECTED_EXPIRY_DAYS} days")
    elif expiry[0] != EXPECTED_EXPIRY_DAYS:
        problems.append(
            f"expiration is {days(expiry[0])} (rule `{expiry[1]}`), expected {EXPECTED_EXPIRY_DAYS}"
        )
    if earliest(rules, "noncurrentVersionExpiration", "noncurrentDays") is None:
        problems.append("noncurrent versions never expire")
    if earliest(rules, "abortIncompleteMultipartUpload", "daysAfterInitiation") is None:
        problems.append("incomplete multipart uploads are never aborted")
    return problems


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    for bucket in buckets(resources, "artifacts"):
        if len(configurations(resources, bucket)) > 1:
            report_violation(
                f"{label(bucket)} has {len(configurations(resources, bucket))} lifecycle configurations; S3 "
                "keeps one, so they overwrite each other (runbook 1.2)",
                bucket.urn,
            )
        rules = rules_reaching(resources, bucket, PREFIX)
        if not rules:
            report_violation(
                f"{label(bucket)} has no enabled lifecycle rule for artifacts/ (runbook 1.2)", bucket.urn
            )
            continue
        problems = problems_of(rules)
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
    subjects=lambda resources: buckets(resources, "artifacts"),
)
