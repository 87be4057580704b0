"""Small builders for IAM and resource policy documents, shared by every component."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

Statement = Mapping[str, Any]


def policy_document(statements: Sequence[Statement]) -> pulumi.Output[str]:
    """A policy document whose statements may hold Outputs (ARNs of resources not yet created)."""
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": list(statements)})


def assume_role_policy(service: str, *more: str) -> str:
    """Trust policy letting the named AWS services assume a role."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": [service, *more] if more else service},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def deny_insecure_transport(bucket_arn: pulumi.Input[str]) -> Statement:
    """Runbook 1.2/1.3: data in the backup buckets moves over TLS only."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
