"""s3-bucket-versioning: every bucket keeps old versions against deletion and overwrite (runbook 1.2)."""

from __future__ import annotations

from maestro_policies._base import BUCKET, VERSIONING, get, label, settings_of, stack_rule
from maestro_policies._buckets import each_bucket


def check(resources, bucket):  # type: ignore[no-untyped-def]
    if not any(
        get(v.props, "versioningConfiguration", "status") == "Enabled"
        for v in settings_of(resources, bucket, VERSIONING)
    ):
        return f"{label(bucket)} is not versioned; add a BucketVersioning with status Enabled (runbook 1.2)"
    return None


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    each_bucket(args, report_violation, check)


RULE = stack_rule(
    "s3-bucket-versioning",
    "every bucket has versioning enabled",
    "1.2",
    ("S3.14", "CKV_AWS_21"),
    (BUCKET,),
    validate,
)
