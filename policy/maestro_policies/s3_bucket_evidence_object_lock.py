"""s3-bucket-evidence-object-lock: evidence is WORM for >= 90 days (COMPLIANCE in prod), then DEEP_ARCHIVE,
never before the lock ends (runbook 1.2).

The archive day is the earliest DEEP_ARCHIVE transition of any enabled lifecycle rule reaching
``evidence/`` (a rule on the whole bucket counts too), as S3 applies them."""

from __future__ import annotations

from maestro_policies._base import (
    BUCKET,
    OBJECT_LOCK,
    days,
    get,
    is_prod,
    label,
    limit,
    number,
    settings_of,
    stack_rule,
    threshold_schema,
)
from maestro_policies._buckets import buckets
from maestro_policies._lifecycle import earliest_transitions, rules_reaching

MIN_LOCK_DAYS = 90  # runbook 1.2: evidence retention 90 days minimum
MAX_LOCK_DAYS = 36500  # S3 Object Lock allows up to 100 years


def _retention_days(retention) -> float | None:  # type: ignore[no-untyped-def]
    day_count, years = number(get(retention, "days")), number(get(retention, "years"))
    if day_count:
        return day_count
    return years * 365 if years else None


def _problems(resources, bucket, minimum, prod: bool) -> list[str]:  # type: ignore[no-untyped-def]
    if get(bucket.props, "objectLockEnabled", default=False) is not True:
        return ["Object Lock is not enabled at creation (set object_lock_enabled=True)"]
    locks = settings_of(resources, bucket, OBJECT_LOCK)
    retention = get(locks[0].props, "rule", "defaultRetention", default={}) if locks else {}
    lock_days = _retention_days(retention)
    if not locks or not lock_days:
        return ["no default retention (add a BucketObjectLockConfiguration with default_retention)"]
    problems = []
    if lock_days < minimum.value:
        problems.append(f"default retention is {days(lock_days)}; {minimum.phrase}")
    mode = get(retention, "mode")
    if prod and mode != "COMPLIANCE":
        problems.append(f"lock mode is {mode} in prod; set COMPLIANCE")
    archive = earliest_transitions(rules_reaching(resources, bucket, "evidence/")).get("DEEP_ARCHIVE")
    if archive is None:
        problems.append("evidence/ never moves to DEEP_ARCHIVE after the lock")
    elif archive < lock_days:
        problems.append(
            f"evidence/ moves to DEEP_ARCHIVE at {days(archive)}, before the {int(lock_days)}-day lock ends"
        )
    return problems


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    minimum = limit(args, "minLockDays", MIN_LOCK_DAYS, "1.2")
    evidence = buckets(resources, "evidence")
    if not evidence:
        report_violation("no evidence bucket (tag maestro:purpose=evidence) in the stack (runbook 1.2)", None)
    for bucket in evidence:
        problems = _problems(resources, bucket, minimum, is_prod(args))
        if problems:
            report_violation(f"{label(bucket)}: {'; '.join(problems)}", bucket.urn)


RULE = stack_rule(
    "s3-bucket-evidence-object-lock",
    "evidence bucket Object Lock >= 90 d, COMPLIANCE in prod, then DEEP_ARCHIVE",
    "1.2",
    ("S3.15", "CKV_AWS_143"),
    (BUCKET,),
    validate,
    config={
        "minLockDays": threshold_schema(MIN_LOCK_DAYS, MIN_LOCK_DAYS, "floor 90, runbook 1.2", MAX_LOCK_DAYS)
    },
    suppressible=False,
    subjects=lambda resources: buckets(resources, "evidence"),
)
