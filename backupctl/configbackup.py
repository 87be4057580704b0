"""Daily configuration backup (runbook 1.3): policies, routing pins and secrets metadata, never values.

Business logic over plain clients: ``collect`` reads SSM parameters under the configured paths and the
metadata of secrets under the prefix; ``write_snapshot`` stores one dated JSON document plus a manifest
carrying its SHA-256 in the config bucket, SSE-KMS with the config key. The scheduled Lambda
(``backupctl.handlers.config_backup``) and ``backupctl config backup`` run this same code.
Only the standard library and boto3 are imported here, so the Lambda package needs nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

SCHEMA = "maestro-backup/config-snapshot@1"
SNAPSHOT_PREFIX = "config"
# Secret metadata fields kept; SecretString/SecretBinary are never requested, let alone kept.
SECRET_FIELDS = (
    "ARN",
    "Name",
    "Description",
    "KmsKeyId",
    "RotationEnabled",
    "RotationLambdaARN",
    "RotationRules",
    "LastRotatedDate",
    "LastChangedDate",
    "NextRotationDate",
    "Tags",
    "PrimaryRegion",
)


@dataclass
class Snapshot:
    environment: str
    created_at: str
    parameters: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "environment": self.environment,
            "createdAt": self.created_at,
            "parameters": sorted(self.parameters, key=lambda p: p["Name"]),
            "secrets": sorted(self.secrets, key=lambda s: s["Name"]),
            "problems": self.problems,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def collect_parameters(ssm: Any, paths: Sequence[str], snapshot: Snapshot) -> None:
    """Plain parameters keep their value; SecureString parameters keep metadata only (no decryption)."""
    paginator = ssm.get_paginator("get_parameters_by_path")
    for path in paths:
        for page in paginator.paginate(Path=path, Recursive=True, WithDecryption=False):
            for p in page.get("Parameters", []):
                entry = {
                    k: _jsonable(p[k])
                    for k in ("Name", "Type", "Version", "LastModifiedDate", "DataType")
                    if k in p
                }
                if p.get("Type") == "SecureString":
                    entry["ValueOmitted"] = True
                else:
                    entry["Value"] = p.get("Value", "")
                snapshot.parameters.append(entry)


def collect_secrets(secrets: Any, prefix: str, snapshot: Snapshot) -> None:
    paginator = secrets.get_paginator("list_secrets")
    for page in paginator.paginate(Filters=[{"Key": "name", "Values": [prefix]}]):
        for listed in page.get("SecretList", []):
            try:
                described = secrets.describe_secret(SecretId=listed["ARN"])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    snapshot.problems.append(f"secret {listed.get('Name')} disappeared during the backup")
                    continue
                raise
            snapshot.secrets.append({k: _jsonable(described[k]) for k in SECRET_FIELDS if k in described})


def collect(
    ssm: Any,
    secrets: Any,
    *,
    environment: str,
    paths: Sequence[str],
    secrets_prefix: str,
    now: datetime | None = None,
) -> Snapshot:
    snapshot = Snapshot(environment=environment, created_at=(now or datetime.now(UTC)).isoformat())
    collect_parameters(ssm, paths, snapshot)
    collect_secrets(secrets, secrets_prefix, snapshot)
    return snapshot


def snapshot_key(environment: str, created_at: str) -> str:
    moment = datetime.fromisoformat(created_at)
    return f"{SNAPSHOT_PREFIX}/{environment}/{moment:%Y-%m-%d}/{moment:%Y%m%dT%H%M%SZ}.json"


def write_snapshot(s3: Any, bucket: str, kms_key_id: str | None, snapshot: Snapshot) -> dict[str, Any]:
    """Store the snapshot and its manifest; returns the manifest."""
    body = json.dumps(snapshot.document(), indent=1, sort_keys=True).encode()
    key = snapshot_key(snapshot.environment, snapshot.created_at)
    manifest = {
        "schema": SCHEMA,
        "key": key,
        "sha256": hashlib.sha256(body).hexdigest(),
        "bytes": len(body),
        "createdAt": snapshot.created_at,
        "parameters": len(snapshot.parameters),
        "secrets": len(snapshot.secrets),
        "problems": snapshot.problems,
    }
    extra: dict[str, Any] = {"ServerSideEncryption": "aws:kms"}
    if kms_key_id:
        extra["SSEKMSKeyId"] = kms_key_id
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json", **extra)
    s3.put_object(
        Bucket=bucket,
        Key=key.removesuffix(".json") + ".manifest.json",
        Body=json.dumps(manifest, indent=1).encode(),
        ContentType="application/json",
        **extra,
    )
    return manifest
