"""Thin boto3 wrappers, one per AWS service, over an injected session (runbook 1-4 operations).

Each wrapper turns a call into plain data: paginated lists, ``None`` for an expected absence (a bucket
with no lifecycle, a vault not found) decided by the ``ClientError`` code, never by message text.
Business logic in verify/kmscheck/drill takes that data, so it is testable with a stubbed wrapper where
moto lacks an API. Only the standard library and boto3 are imported (the Lambda package uses this).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

RETRIES = Config(retries={"max_attempts": 8, "mode": "standard"})
# For a drill or a backup that must say "S3 is unreachable" in seconds, not minutes: an endpoint that
# refuses or drops connections is given up after 3 attempts of at most 5 s to connect.
BOUNDED = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})


def as_utc(value: Any) -> datetime | None:
    """An AWS timestamp (datetime, or ISO text as stored in our own documents) as an aware UTC time."""
    if isinstance(value, str) and value:
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def absent_on(exc: ClientError, *codes: str) -> None:
    """Re-raise unless the error code says the thing is (expectedly) not there."""
    if error_code(exc) not in codes:
        raise exc


@dataclass
class Clients:
    """A boto3 session plus the endpoint override (moto server, LocalStack) for every client."""

    session: Any
    endpoint_url: str | None = None
    config: Config | None = None  # timeouts and retries, when a caller needs tighter bounds than RETRIES

    def client(self, service: str, region: str | None = None) -> Any:
        kwargs: dict[str, Any] = {"config": self.config or RETRIES}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        if region:
            kwargs["region_name"] = region
        return self.session.client(service, **kwargs)

    @property
    def region(self) -> str | None:
        return self.session.region_name


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items


class Rds:
    def __init__(self, clients: Clients, region: str | None = None) -> None:
        self.client = clients.client("rds", region)

    def instance(self, identifier: str) -> dict[str, Any] | None:
        try:
            found = self.client.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
        except ClientError as exc:
            absent_on(exc, "DBInstanceNotFound", "DBInstanceNotFoundFault")
            return None
        return found[0] if found else None

    def snapshots(self, identifier: str) -> list[dict[str, Any]]:
        try:
            return _pages(
                self.client, "describe_db_snapshots", "DBSnapshots", DBInstanceIdentifier=identifier
            )
        except ClientError as exc:
            absent_on(exc, "DBInstanceNotFound", "DBInstanceNotFoundFault")
            return []

    def tags(self, arn: str) -> dict[str, str]:
        tags = self.client.list_tags_for_resource(ResourceName=arn).get("TagList", [])
        return {t["Key"]: t["Value"] for t in tags}


class Backup:
    def __init__(self, clients: Clients, region: str | None = None) -> None:
        self.client = clients.client("backup", region)

    def vault(self, name: str) -> dict[str, Any] | None:
        try:
            return self.client.describe_backup_vault(BackupVaultName=name)
        except ClientError as exc:
            # AWS Backup answers AccessDeniedException, not ResourceNotFound, for a vault name that
            # does not exist in the account.
            absent_on(exc, "ResourceNotFoundException", "AccessDeniedException")
            return None

    def recovery_points(self, vault: str) -> list[dict[str, Any]]:
        return _pages(
            self.client, "list_recovery_points_by_backup_vault", "RecoveryPoints", BackupVaultName=vault
        )


class S3:
    def __init__(self, clients: Clients, region: str | None = None) -> None:
        self.client = clients.client("s3", region)

    def versioning(self, bucket: str) -> str | None:
        return self.client.get_bucket_versioning(Bucket=bucket).get("Status")

    def exists(self, bucket: str) -> bool:
        try:
            self.client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            absent_on(exc, "404", "NoSuchBucket")  # 403 is a bucket we may not read: raised, not absent
            return False
        return True

    def encryption(self, bucket: str) -> list[dict[str, Any]]:
        try:
            config = self.client.get_bucket_encryption(Bucket=bucket)
        except ClientError as exc:
            absent_on(exc, "ServerSideEncryptionConfigurationNotFoundError")
            return []
        return config["ServerSideEncryptionConfiguration"].get("Rules", [])

    def lifecycle(self, bucket: str) -> list[dict[str, Any]]:
        try:
            return self.client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
        except ClientError as exc:
            absent_on(exc, "NoSuchLifecycleConfiguration")
            return []

    def object_lock(self, bucket: str) -> dict[str, Any] | None:
        try:
            return self.client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        except ClientError as exc:
            absent_on(exc, "ObjectLockConfigurationNotFoundError")
            return None

    def keys(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        return _pages(self.client, "list_objects_v2", "Contents", Bucket=bucket, Prefix=prefix)

    def get_bytes(self, bucket: str, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            absent_on(exc, "NoSuchKey", "404")
            return None

    def get_json(self, bucket: str, key: str) -> Any:
        body = self.get_bytes(bucket, key)
        return None if body is None else json.loads(body)

    def put_bytes(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        kms_key_id: str | None = None,
        content_type: str = "application/json",
        **extra: Any,
    ) -> dict[str, Any]:
        if kms_key_id:
            extra |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
        return self.client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, **extra)


class Kms:
    """KMS in the stack's region, and in the region a key ARN names (the DR region's keys, runbook 3)."""

    def __init__(self, clients: Clients, region: str | None = None) -> None:
        self.clients, self.region = clients, region
        self.client = clients.client("kms", region)
        self._regional: dict[str, Any] = {}

    def _for(self, key: str) -> Any:
        parts = key.split(":")
        region = parts[3] if key.startswith("arn:") and len(parts) > 3 else None
        if not region or region == (self.region or self.clients.region):
            return self.client
        if region not in self._regional:
            self._regional[region] = self.clients.client("kms", region)
        return self._regional[region]

    def describe(self, key: str) -> dict[str, Any] | None:
        try:
            return self._for(key).describe_key(KeyId=key)["KeyMetadata"]
        except ClientError as exc:
            absent_on(exc, "NotFoundException")
            return None

    def rotation(self, key: str) -> dict[str, Any]:
        return self._for(key).get_key_rotation_status(KeyId=key)

    def rotations(self, key: str) -> list[dict[str, Any]]:
        return _pages(self._for(key), "list_key_rotations", "Rotations", KeyId=key)

    def encrypt(self, key: str, plaintext: bytes, context: dict[str, str]) -> bytes:
        return self._for(key).encrypt(KeyId=key, Plaintext=plaintext, EncryptionContext=context)[
            "CiphertextBlob"
        ]

    def decrypt(self, key: str, blob: bytes, context: dict[str, str]) -> bytes:
        return self._for(key).decrypt(KeyId=key, CiphertextBlob=blob, EncryptionContext=context)["Plaintext"]

    def rotate_now(self, key: str) -> None:
        self._for(key).rotate_key_on_demand(KeyId=key)


class Scheduler:
    def __init__(self, clients: Clients, region: str | None = None) -> None:
        self.client = clients.client("scheduler", region)

    def schedule(self, name: str) -> dict[str, Any] | None:
        try:
            return self.client.get_schedule(Name=name)
        except ClientError as exc:
            absent_on(exc, "ResourceNotFoundException")
            return None


class ConfigService:
    """AWS Config's recorders: Backup Audit Manager evaluates nothing unless they record (runbook 4)."""

    def __init__(self, clients: Clients, region: str | None = None) -> None:
        self.client = clients.client("config", region)

    def recorders(self) -> list[dict[str, Any]]:
        """Each recorder with its recording group and whether it is recording now."""
        recorders = self.client.describe_configuration_recorders().get("ConfigurationRecorders", [])
        status = {
            s.get("name"): s
            for s in self.client.describe_configuration_recorder_status().get(
                "ConfigurationRecordersStatus", []
            )
        }
        return [{**r, "recording": bool(status.get(r.get("name"), {}).get("recording"))} for r in recorders]
