"""s3-bucket-tls-only: bucket policies deny requests without TLS (runbook 1.2, 1.3)."""

from __future__ import annotations

from maestro_policies._base import (
    BUCKET,
    BUCKET_POLICY,
    get,
    label,
    policy_statements,
    settings_of,
    stack_rule,
)
from maestro_policies._buckets import each_bucket


def _denies_plain_http(statement) -> bool:  # type: ignore[no-untyped-def]
    return (
        statement.get("Effect") == "Deny"
        and str(get(statement, "Condition", "Bool", "aws:SecureTransport", default="")).lower() == "false"
    )


def check(resources, bucket):  # type: ignore[no-untyped-def]
    for policy in settings_of(resources, bucket, BUCKET_POLICY):
        if any(_denies_plain_http(s) for s in policy_statements(get(policy.props, "policy"))):
            return None
    return (
        f"{label(bucket)} policy does not deny aws:SecureTransport=false; add the DenyInsecureTransport "
        "statement"
    )


def validate(args, report_violation) -> None:  # type: ignore[no-untyped-def]
    each_bucket(args, report_violation, check)


RULE = stack_rule(
    "s3-bucket-tls-only",
    "every bucket policy denies non-TLS access",
    "1.2",
    ("S3.5", "CKV_AWS_379"),
    (BUCKET,),
    validate,
)
