"""s3-bucket-sse-kms: default encryption with a customer-managed key (runbook 1.2, 1.3).

The one exception is the server-access-log bucket (purpose ``access-logs``): S3 delivers access logs only
to buckets with SSE-S3, so AES256 is accepted there and nowhere else.
"""

from __future__ import annotations

from maestro_policies._base import AWS_MANAGED_KEY, BUCKET, SSE, get, label, settings_of, stack_rule, tags
from maestro_policies._buckets import each_bucket


def check(resources, bucket):  # type: ignore[no-untyped-def]
    access_logs = tags(bucket.props).get("maestro:purpose") == "access-logs"
    for sse in settings_of(resources, bucket, SSE):
        default = get(sse.props, "rules", 0, "applyServerSideEncryptionByDefault", default={})
        algorithm, key = get(default, "sseAlgorithm"), get(default, "kmsMasterKeyId", default="")
        if (
            algorithm in ("aws:kms", "aws:kms:dsse")
            and isinstance(key, str)
            and key
            and not AWS_MANAGED_KEY.search(key)
        ):
            return None
        if access_logs and algorithm == "AES256":
            return None
    return (
        f"{label(bucket)} has no default SSE-KMS encryption with a customer-managed key; add a "
        "BucketServerSideEncryptionConfiguration with sse_algorithm aws:kms and kms_master_key_id"
    )


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    each_bucket(args, report_violation, check)


RULE = stack_rule(
    "s3-bucket-sse-kms",
    "every bucket encrypts by default with a customer-managed KMS key",
    "1.2",
    ("S3.4", "CKV_AWS_145"),
    (BUCKET,),
    validate,
)
