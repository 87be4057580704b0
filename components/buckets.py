"""Versioned, encrypted, private buckets and their runbook lifecycles (runbook 1.2, 1.3, 2.1 step 4).

``SecureBucket`` is the one way this project makes a bucket: versioning, default encryption with a
customer-managed key and bucket key, public access blocked, owner-enforced ownership, a TLS-only
policy and server access logging. The purpose components add the runbook's rules on top:
``artifacts/`` tiering and expiry, ``evidence/`` Object Lock then DEEP_ARCHIVE, and the restricted
config-backup bucket. pulumi-aws 7 keeps each setting in its own resource; all follow ``bucket``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import deny_insecure_transport, policy_document
from components.settings import (
    ARTIFACTS_EXPIRE_DAYS,
    ARTIFACTS_GLACIER_DAYS,
    ARTIFACTS_IA_DAYS,
)

NONCURRENT_VERSION_DAYS = 30  # old versions of artifacts stay recoverable for a month (1.2 versioning)
ABORT_MULTIPART_DAYS = 7  # incomplete uploads are never useful backups


@dataclass(frozen=True)
class SecureBucketArgs:
    bucket_name: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str] | None  # None only for the access-log bucket (S3 requires SSE-S3 there)
    access_log_bucket: pulumi.Input[str] | None = None
    access_log_prefix: str = ""
    object_lock: bool = False
    policy_statements: Sequence[Mapping[str, Any]] = ()
    policy_depends_on: Sequence[pulumi.Resource] = ()  # e.g. a role the policy names as Principal
    protect: bool = False
    tags: Mapping[str, str] = field(default_factory=dict)


class SecureBucket(pulumi.ComponentResource):
    """A bucket that satisfies every rule the runbook puts on a critical bucket."""

    bucket: aws.s3.Bucket
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: SecureBucketArgs,
        opts: pulumi.ResourceOptions | None = None,
        type_name: str = "maestro:buckets:SecureBucket",
    ) -> None:
        super().__init__(type_name, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name,
            object_lock_enabled=args.object_lock or None,
            force_destroy=False,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect),
        )
        # Settings reference `bucket.bucket` (known at preview, unlike the id) so policies can follow them.
        bucket_ref = self.bucket.bucket
        self.bucket_name = bucket_ref
        self.bucket_arn = self.bucket.arn
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket_ref,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        public_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket_ref,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket_ref,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        default: dict[str, Any] = (
            {"sse_algorithm": "aws:kms", "kms_master_key_id": args.kms_key_arn}
            if args.kms_key_arn is not None
            else {"sse_algorithm": "AES256"}
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket_ref,
            rules=[
                {
                    "apply_server_side_encryption_by_default": default,  # type: ignore[typeddict-item]
                    "bucket_key_enabled": args.kms_key_arn is not None,
                }
            ],
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket_ref,
            policy=policy_document([deny_insecure_transport(self.bucket.arn), *args.policy_statements]),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_block, *args.policy_depends_on]),
        )
        if args.access_log_bucket is not None:
            aws.s3.BucketLogging(
                f"{name}-logging",
                bucket=bucket_ref,
                target_bucket=args.access_log_bucket,
                target_prefix=pulumi.Output.concat(args.access_log_prefix, bucket_ref, "/"),
                opts=child,
            )
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})


@dataclass(frozen=True)
class ArtifactsBucketArgs:
    secure: SecureBucketArgs
    inventory_bucket_arn: pulumi.Input[str] | None = None  # where the artifacts index is delivered
    inventory_key_arn: pulumi.Input[str] | None = None


class ArtifactsBucket(SecureBucket):
    """Build artifacts: ``artifacts/`` to STANDARD_IA at 30 d, GLACIER at 90 d, expired at 180 d (1.2)."""

    def __init__(
        self, name: str, args: ArtifactsBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(name, args.secure, opts, type_name="maestro:buckets:ArtifactsBucket")
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket_name,
            rules=[
                {
                    "id": "artifacts-tiering",
                    "status": "Enabled",
                    "filter": {"prefix": "artifacts/"},
                    "transitions": [
                        {"days": ARTIFACTS_IA_DAYS, "storage_class": "STANDARD_IA"},
                        {"days": ARTIFACTS_GLACIER_DAYS, "storage_class": "GLACIER"},
                    ],
                    "expiration": {"days": ARTIFACTS_EXPIRE_DAYS},
                    "noncurrent_version_expiration": {"noncurrent_days": NONCURRENT_VERSION_DAYS},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_MULTIPART_DAYS},
                }
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        if args.inventory_bucket_arn is not None:
            # The artifacts index of runbook 2.1 step 4: a daily listing the drill restores and compares.
            aws.s3.Inventory(
                f"{name}-index",
                bucket=self.bucket_name,
                name="artifacts-index",
                included_object_versions="Current",
                schedule={"frequency": "Daily"},
                filter={"prefix": "artifacts/"},
                optional_fields=["Size", "LastModifiedDate", "ETag", "StorageClass", "EncryptionStatus"],
                destination={
                    "bucket": {
                        "bucket_arn": args.inventory_bucket_arn,
                        "format": "CSV",
                        "prefix": "inventory",
                        "encryption": {"sse_kms": {"key_id": args.inventory_key_arn}}
                        if args.inventory_key_arn is not None
                        else None,
                    }
                },
                opts=pulumi.ResourceOptions(parent=self),
            )


@dataclass(frozen=True)
class EvidenceBucketArgs:
    secure: SecureBucketArgs
    lock_mode: str
    lock_days: int
    archive_after_days: int


class EvidenceBucket(SecureBucket):
    """WORM evidence: Object Lock by default for >= 90 d, then ``evidence/`` to DEEP_ARCHIVE (1.2)."""

    def __init__(
        self, name: str, args: EvidenceBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        if not args.secure.object_lock:
            raise ValueError("the evidence bucket needs object_lock=True at creation (runbook 1.2)")
        super().__init__(name, args.secure, opts, type_name="maestro:buckets:EvidenceBucket")
        child = pulumi.ResourceOptions(parent=self)
        aws.s3.BucketObjectLockConfiguration(
            f"{name}-object-lock",
            bucket=self.bucket_name,
            object_lock_enabled="Enabled",
            rule={"default_retention": {"mode": args.lock_mode, "days": args.lock_days}},
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket_name,
            rules=[
                {
                    "id": "evidence-archive-after-lock",
                    "status": "Enabled",
                    "filter": {"prefix": "evidence/"},
                    "transitions": [{"days": args.archive_after_days, "storage_class": "DEEP_ARCHIVE"}],
                    "noncurrent_version_transitions": [
                        {"noncurrent_days": args.archive_after_days, "storage_class": "DEEP_ARCHIVE"}
                    ],
                    "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_MULTIPART_DAYS},
                }
            ],
            opts=child,
        )


def restricted_access_statements(
    bucket_arn: pulumi.Input[str],
    allowed_role_arns: Sequence[pulumi.Input[str]],
    account_id: pulumi.Input[str],
) -> list[Mapping[str, Any]]:
    """Runbook 1.3: only the config-backup role and the break-glass role touch the config bucket's objects."""
    objects = pulumi.Output.concat(bucket_arn, "/*")
    return [
        {
            "Sid": "DenyEveryoneButBackupAndBreakGlass",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:RestoreObject"],
            "Resource": [objects],
            "Condition": {
                "ArnNotLike": {"aws:PrincipalArn": list(allowed_role_arns)},
                "StringEquals": {"aws:PrincipalAccount": account_id},
            },
        },
        {
            "Sid": "DenyOtherAccounts",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, objects],
            "Condition": {"StringNotEquals": {"aws:PrincipalAccount": account_id}},
        },
    ]
