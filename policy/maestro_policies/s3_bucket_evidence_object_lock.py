"""s3-bucket-evidence-object-lock: evidence is WORM for >= 90 days (COMPLIANCE in prod), then DEEP_ARCHIVE,
never before the lock ends (runbook 1.2)."""

from __future__ import annotations

from maestro_policies._base import (
    BUCKET,
    LIFECYCLE,
    OBJECT_LOCK,
    as_list,
    get,
    is_prod,
    label,
    settings_of,
    stack_rule,
    threshold,
    threshold_schema,
)
from maestro_policies._buckets import buckets

MIN_LOCK_DAYS = 90  # runbook 1.2: evidence retention 90 days minimum


def _problems(resources, bucket, minimum: int, prod: bool) -> list[str]:  # type: ignore[no-untyped-def]
    if not get(bucket.props, "objectLockEnabled", default=False):
        return ["Object Lock is not enabled at creation (set object_lock_enabled=True)"]
    locks = settings_of(resources, bucket, OBJECT_LOCK)
    retention = get(locks[0].props, "rule", "defaultRetention", default={}) if locks else {}
    days = get(retention, "days") or (get(retention, "years", default=0) or 0) * 365
    mode = get(retention, "mode")
    problems = []
    if not locks or not days:
        return ["no default retention (add a BucketObjectLockConfiguration with default_retention)"]
    if days < minimum:
        problems.append(f"default retention is {days} days; runbook 1.2 requires >= {minimum}")
    if prod and mode != "COMPLIANCE":
        problems.append(f"lock mode is {mode} in prod; set COMPLIANCE")
    archive_days = [
        get(t, "days", default=0)
        for lc in settings_of(resources, bucket, LIFECYCLE)
        for r in as_list(get(lc.props, "rules"))
        if get(r, "filter", "prefix", default="") == "evidence/" and get(r, "status") == "Enabled"
        for t in as_list(get(r, "transitions"))
        if get(t, "storageClass") == "DEEP_ARCHIVE"
    ]
    if not archive_days:
        problems.append("evidence/ never moves to DEEP_ARCHIVE after the lock")
    elif min(archive_days) < days:
        problems.append(
            f"evidence/ moves to DEEP_ARCHIVE at {min(archive_days)} days, before the {days}-day lock ends"
        )
    return problems


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    resources = list(args.resources)
    minimum = threshold(args, "minLockDays", MIN_LOCK_DAYS, MIN_LOCK_DAYS)
    evidence = buckets(resources, "evidence")
    if not evidence:
        report_violation("no evidence bucket (tag maestro:purpose=evidence) in the stack (runbook 1.2)", None)
    for bucket in evidence:
        problems = _problems(resources, bucket, minimum, is_prod(resources))
        if problems:
            report_violation(f"{label(bucket)}: {'; '.join(problems)}", bucket.urn)


RULE = stack_rule(
    "s3-bucket-evidence-object-lock",
    "evidence bucket Object Lock >= 90 d, COMPLIANCE in prod, then DEEP_ARCHIVE",
    "1.2",
    ("S3.15", "CKV_AWS_143"),
    (BUCKET,),
    validate,
    config={"minLockDays": threshold_schema(MIN_LOCK_DAYS, MIN_LOCK_DAYS, "floor 90, runbook 1.2")},
)
