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
import re
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


# ---- restore (runbook 1.3 and drill step 6) -------------------------------------------------------

SNAPSHOT_KEY = re.compile(r"^config/(?P<env>[^/]+)/\d{4}-\d{2}-\d{2}/(?P<ts>\d{8}T\d{6}Z)\.json$")
RESTORABLE_TYPES = ("String", "StringList")


class SnapshotRefused(Exception):
    """The snapshot does not match its manifest (tampered or truncated): it is never applied."""


@dataclass(frozen=True)
class SnapshotRef:
    key: str
    created_at: datetime

    @property
    def manifest_key(self) -> str:
        return self.key.removesuffix(".json") + ".manifest.json"


def list_snapshots(s3: Any, bucket: str, environment: str) -> list[SnapshotRef]:
    refs = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{SNAPSHOT_PREFIX}/{environment}/"
    ):
        for obj in page.get("Contents", []):
            match = SNAPSHOT_KEY.match(obj["Key"])
            if match and match["env"] == environment:
                moment = datetime.strptime(match["ts"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
                refs.append(SnapshotRef(obj["Key"], moment))
    return sorted(refs, key=lambda r: r.created_at)


def load_snapshot(s3: Any, bucket: str, ref: SnapshotRef) -> tuple[dict[str, Any], dict[str, Any]]:
    """The snapshot document and its manifest, after the SHA-256 and schema are checked."""
    try:
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=ref.manifest_key)["Body"].read())
        body = s3.get_object(Bucket=bucket, Key=ref.key)["Body"].read()
    except ClientError as exc:
        raise SnapshotRefused(
            f"s3://{bucket}/{ref.key}: snapshot or manifest unreadable "
            f"({exc.response.get('Error', {}).get('Code')})"
        ) from None
    except json.JSONDecodeError:
        raise SnapshotRefused(f"s3://{bucket}/{ref.manifest_key}: the manifest is not JSON") from None
    digest = hashlib.sha256(body).hexdigest()
    if digest != manifest.get("sha256"):
        raise SnapshotRefused(
            f"s3://{bucket}/{ref.key}: SHA-256 {digest[:12]}... does not match the manifest's "
            f"{str(manifest.get('sha256'))[:12]}...; refusing a tampered or truncated snapshot"
        )
    document = json.loads(body)
    if document.get("schema") != SCHEMA:
        raise SnapshotRefused(
            f"s3://{bucket}/{ref.key}: schema {document.get('schema')!r}, expected {SCHEMA}"
        )
    return document, manifest


@dataclass
class Change:
    kind: str  # parameter | secret
    action: str  # add | change | remove | keep | retag | rotation | needs-value
    name: str
    detail: str
    apply: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "action": self.action,
            "name": self.name,
            "detail": self.detail,
            "apply": self.apply,
        }


def _tags(entry: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in entry.get("Tags", []) or []}


def _rotation(entry: dict[str, Any]) -> tuple[bool, str | None, Any]:
    return bool(entry.get("RotationEnabled")), entry.get("RotationLambdaARN"), entry.get("RotationRules")


def plan_restore(document: dict[str, Any], live: Snapshot, *, prune: bool) -> list[Change]:
    """The diff from live to the snapshot. Values of SecureString parameters and secrets are never known
    to the tool, so those are listed as needing a value instead of being restored."""
    changes: list[Change] = []
    wanted = {p["Name"]: p for p in document.get("parameters", [])}
    have = {p["Name"]: p for p in live.parameters}
    for name, p in sorted(wanted.items()):
        current = have.get(name)
        if p.get("Type") not in RESTORABLE_TYPES:
            if current is None:
                changes.append(
                    Change("parameter", "needs-value", name, f"{p.get('Type')}: re-supply the value", False)
                )
            continue
        if current is None:
            changes.append(Change("parameter", "add", name, f"= {p.get('Value')!r}"))
        elif (current.get("Value"), current.get("Type")) != (p.get("Value"), p.get("Type")):
            changes.append(
                Change("parameter", "change", name, f"{current.get('Value')!r} -> {p.get('Value')!r}")
            )
    for name in sorted(set(have) - set(wanted)):
        if prune:
            changes.append(Change("parameter", "remove", name, "not in the snapshot (--prune)"))
        else:
            changes.append(
                Change("parameter", "keep", name, "not in the snapshot; --prune would delete it", False)
            )
    live_secrets = {s["Name"]: s for s in live.secrets}
    for s in sorted(document.get("secrets", []), key=lambda x: x["Name"]):
        current = live_secrets.get(s["Name"])
        if current is None:
            changes.append(
                Change(
                    "secret", "needs-value", s["Name"], "missing: create it and re-supply its value", False
                )
            )
            continue
        if _tags(current) != _tags(s):
            changes.append(Change("secret", "retag", s["Name"], f"tags {_tags(current)} -> {_tags(s)}"))
        if _rotation(current) != _rotation(s):
            changes.append(
                Change(
                    "secret",
                    "rotation",
                    s["Name"],
                    f"rotation {'on' if current.get('RotationEnabled') else 'off'} -> "
                    f"{'on' if s.get('RotationEnabled') else 'off'} {s.get('RotationRules') or ''}".rstrip(),
                )
            )
    return changes


def collect_stack(ssm: Any, secrets: Any, outputs: dict[str, Any]) -> Snapshot:
    """``collect`` for a stack: its environment, parameter paths and secrets prefix from its outputs."""
    return collect(
        ssm,
        secrets,
        environment=str(outputs["environment"]),
        paths=list(outputs["parameterPaths"]),
        secrets_prefix=str(outputs["secretsPrefix"]),
    )


def dry_run_newest(
    s3: Any, ssm: Any, secrets: Any, outputs: dict[str, Any]
) -> tuple[SnapshotRef | None, list[Change]]:
    """The newest snapshot of the stack, checksum-verified, diffed against live parameters (no change
    made); ``(None, [])`` when the stack has no snapshot yet. Raises SnapshotRefused for a bad one."""
    bucket = str(outputs["configBucket"])
    refs = list_snapshots(s3, bucket, str(outputs["environment"]))
    if not refs:
        return None, []
    document, _ = load_snapshot(s3, bucket, refs[-1])
    return refs[-1], plan_restore(document, collect_stack(ssm, secrets, outputs), prune=False)


def apply_restore(changes: Sequence[Change], document: dict[str, Any], ssm: Any, secrets: Any) -> int:
    """Applies the applicable changes; returns how many were applied."""
    wanted = {p["Name"]: p for p in document.get("parameters", [])}
    secret_docs = {s["Name"]: s for s in document.get("secrets", [])}
    applied = 0
    for change in changes:
        if not change.apply:
            continue
        if change.kind == "parameter" and change.action in ("add", "change"):
            p = wanted[change.name]
            ssm.put_parameter(
                Name=change.name,
                Value=p.get("Value", ""),
                Type=p["Type"],
                DataType=p.get("DataType", "text"),
                Overwrite=True,
            )
        elif change.kind == "parameter" and change.action == "remove":
            ssm.delete_parameter(Name=change.name)
        elif change.action == "retag":
            s = secret_docs[change.name]
            live = secrets.describe_secret(SecretId=change.name)
            stale = sorted(set(_tags(live)) - set(_tags(s)))
            if stale:
                secrets.untag_resource(SecretId=change.name, TagKeys=stale)
            if s.get("Tags"):
                secrets.tag_resource(SecretId=change.name, Tags=s["Tags"])
        elif change.action == "rotation":
            s = secret_docs[change.name]
            if s.get("RotationEnabled") and s.get("RotationLambdaARN"):
                secrets.rotate_secret(
                    SecretId=change.name,
                    RotationLambdaARN=s["RotationLambdaARN"],
                    RotationRules=s.get("RotationRules") or {},
                    RotateImmediately=False,
                )
            else:
                secrets.cancel_rotate_secret(SecretId=change.name)
        else:
            continue
        applied += 1
    return applied
