"""s3-bucket-public-access-block: no backup bucket can ever be made public (runbook 1.2, 1.3)."""

from __future__ import annotations

from maestro_policies._base import BUCKET, PUBLIC_ACCESS_BLOCK, get, label, settings_of, stack_rule
from maestro_policies._buckets import each_bucket

FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def check(resources, bucket):  # type: ignore[no-untyped-def]
    blocks = settings_of(resources, bucket, PUBLIC_ACCESS_BLOCK)
    if not blocks:
        return f"{label(bucket)} has no BucketPublicAccessBlock; add one with all four flags true"
    off = [flag for flag in FLAGS if not any(get(b.props, flag, default=False) for b in blocks)]
    return f"{label(bucket)} public access block leaves {', '.join(off)} off; set them true" if off else None


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    each_bucket(args, report_violation, check)


RULE = stack_rule(
    "s3-bucket-public-access-block",
    "every bucket blocks all public access",
    "1.2",
    ("S3.8", "CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56"),
    (BUCKET,),
    validate,
)
