"""What the drill checks against a restore, the same for every target (runbook 2.1 steps 4-8, 2.2).

The heartbeat table gets a row written to the source just before the backup is chosen; the newest row
found in the restore is the newest transaction it holds, which RPO is measured against. The artifacts
index is compared with the bucket (step 4), the newest config snapshot is diffed against live parameters
(step 6), the smoke suite (tables, non-empty tables, canary queries) and an operator's smoke command run
against the restore (step 7; the moment they pass is where RTO stops), and RTO/RPO are judged (step 8).

The artifacts index of step 4: on AWS it is the daily S3 Inventory the program delivers to the audit
bucket (``inventory/<bucket>/artifacts-index/<date>/manifest.json`` plus gzipped CSV files); where no
inventory exists (the local drill), the drill writes a listing snapshot in the same shape first.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backupctl.drill import dbbackup
from backupctl.drill.pgtools import PgError
from backupctl.drill.recorder import Drill, StepFailed
from backupctl.errors import BadInput, did_you_mean
from backupctl.files import read_text, yaml_error

HEARTBEAT_TABLE = "maestro_drill_heartbeat"
Query = Callable[[str], list[list[str]]]


ARTIFACTS_PREFIX = "artifacts/"
INVENTORY_ID = "artifacts-index"
Index = dict[str, dict[str, Any]]  # key -> {"size", "etag"}


def listing(s3: Any, bucket: str, prefix: str = ARTIFACTS_PREFIX) -> Index:
    index: Index = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            index[obj["Key"]] = {"size": int(obj["Size"]), "etag": str(obj["ETag"]).strip('"')}
    return index


def write_listing_snapshot(s3: Any, bucket: str, key: str, index: Index) -> None:
    s3.put_object(
        Bucket=bucket, Key=key, Body=json.dumps({"objects": index}).encode(), ContentType="application/json"
    )


def read_listing_snapshot(s3: Any, bucket: str, key: str) -> Index:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["objects"]


def newest_inventory(s3: Any, dest_bucket: str, source_bucket: str) -> tuple[str, Index] | None:
    """The newest S3 Inventory of ``source_bucket`` as an index, with its manifest key; None if none yet."""
    prefix = f"inventory/{source_bucket}/{INVENTORY_ID}/"
    manifests = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=dest_bucket, Prefix=prefix)
        for o in page.get("Contents", [])
        if o["Key"].endswith("/manifest.json")
    ]
    if not manifests:
        return None
    key = max(manifests)
    manifest = json.loads(s3.get_object(Bucket=dest_bucket, Key=key)["Body"].read())
    columns = [c.strip() for c in manifest["fileSchema"].split(",")]
    index: Index = {}
    for part in manifest.get("files", []):
        raw = s3.get_object(Bucket=dest_bucket, Key=part["key"])["Body"].read()
        for row in csv.reader(io.StringIO(gzip.decompress(raw).decode())):
            record = dict(zip(columns, row, strict=False))
            index[record["Key"]] = {"size": int(record.get("Size") or 0), "etag": record.get("ETag", "")}
    return key, index


@dataclass
class IndexDiff:
    missing: list[str] = field(default_factory=list)  # in the index, gone from the bucket: lost artifacts
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # newer than the index: expected, not a loss

    @property
    def ok(self) -> bool:
        return not self.missing and not self.changed


def compare(index: Index, live: Index) -> IndexDiff:
    diff = IndexDiff()
    for key, want in sorted(index.items()):
        got = live.get(key)
        if got is None:
            diff.missing.append(key)
        elif got["size"] != want["size"] or (want.get("etag") and got["etag"] != want["etag"]):
            diff.changed.append(key)
    diff.added = sorted(set(live) - set(index))
    return diff


def pg_time(text: str) -> datetime:
    """A time the drill asked for as seconds since the epoch (``extract(epoch from ...)``: the same
    whatever TimeZone or DateStyle the database sets), or as ISO text."""
    text = text.strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        return datetime.fromisoformat(text.replace(" ", "T", 1))


def write_heartbeat(query: Query, drill_id: str, note: str) -> datetime:
    query(
        f"create table if not exists {HEARTBEAT_TABLE} (id bigserial primary key, drill_id text not null, "
        "note text not null, at timestamptz not null default clock_timestamp())"
    )
    rows = query(
        f"insert into {HEARTBEAT_TABLE} (drill_id, note) values ('{drill_id}', '{note}') "
        "returning extract(epoch from at)"
    )
    return pg_time(rows[0][0])


def newest_heartbeat(query: Query) -> datetime | None:
    rows = query(f"select extract(epoch from max(at)) from {HEARTBEAT_TABLE}")
    return pg_time(rows[0][0]) if rows and rows[0] and rows[0][0] else None


@dataclass
class SmokeSuite:
    """Tables that must exist, tables that must not be empty, canary queries that must return true."""

    tables: list[str] = field(default_factory=list)
    non_empty: list[str] = field(default_factory=list)
    canaries: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.tables) + len(self.non_empty) + len(self.canaries)

    @classmethod
    def load(cls, path: str) -> SmokeSuite:
        import yaml  # noqa: PLC0415

        text = read_text(path, "--smoke", "a readable UTF-8 YAML or JSON file")
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise yaml_error(exc, path, "--smoke") from None
        if not isinstance(data, dict):
            raise BadInput(
                f"--smoke {path}", "a mapping with tables, nonEmpty, canaries", type(data).__name__
            )
        keys = ("tables", "nonEmpty", "canaries")
        unknown = sorted(str(k) for k in set(data) - set(keys))
        if unknown:
            expected = f"one of tables, nonEmpty, canaries{did_you_mean(unknown[0], keys)}"
            raise BadInput(f"--smoke {path}: {unknown[0]}", expected, repr(unknown[0]))
        for key in ("tables", "nonEmpty"):
            if not isinstance(data.get(key, []), list):
                raise BadInput(f"--smoke {path}: {key}", "a list of schema.table names", data[key])
        if not isinstance(data.get("canaries", {}), dict):
            raise BadInput(
                f"--smoke {path}: canaries", "a mapping name -> SQL returning true", data["canaries"]
            )
        return cls(
            list(data.get("tables", [])), list(data.get("nonEmpty", [])), dict(data.get("canaries", {}))
        )

    def run(self, query: Query) -> list[str]:
        """Problems, one sentence each; empty when the suite passes."""
        problems = []
        present = {r[0] for r in query(dbbackup.USER_TABLES)}
        problems += [f"table {t} is missing" for t in self.tables if t not in present]
        for table in self.non_empty:
            if table not in present:
                continue
            rows = query(f"select exists (select 1 from {dbbackup.qualified(table)})")
            if rows[0][0] != "t":
                problems.append(f"table {table} is empty")
        for name, statement in self.canaries.items():
            try:
                rows = query(statement)
            except PgError as exc:
                problems.append(f"canary {name} failed: {exc}")
                continue
            if not rows or rows[0][0] not in ("t", "true", "1"):
                problems.append(f"canary {name} returned {rows[0][0] if rows else 'nothing'}, expected true")
        return problems


def run_smoke_command(command: str, env: dict[str, str]) -> None:
    """The hook for the dr-restore-smoke CI job's checks: a shell command with PG* pointing at the restore."""
    # shell=True on purpose: the operator's own smoke command, run as they would type it.
    done = subprocess.run(  # noqa: S602
        command,
        shell=True,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or [""])[-1]
        raise StepFailed(f"smoke command exited {done.returncode}: {last}")


def smoke(
    drill: Drill,
    query: Query,
    suite: SmokeSuite | None,
    command: str | None,
    command_env: dict[str, str],
    resource: str,
) -> str:
    """Step 7 for every target: the suite, then the smoke command, then the moment RTO stops."""
    problems = (suite or SmokeSuite()).run(query)
    for problem in problems:
        drill.finding(False, "smoke", resource, problem)
    if problems:
        raise StepFailed(f"{len(problems)} smoke check(s) failed: {problems[0]}")
    if command:
        run_smoke_command(command, command_env)
    drill.smoke_passed_at = datetime.now(UTC)
    checks = suite.size if suite else 0
    drill.finding(
        True,
        "smoke",
        resource,
        f"{checks} smoke check(s) pass" + (" and the smoke command" if command else ""),
    )
    return f"{checks} checks pass" + (f"; `{command}` passed" if command else "")


def artifacts_index(drill: Drill, index: Index, live: Index, where: str) -> str:
    """Step 4: every object of the restored index is still in the bucket, unchanged."""
    diff = compare(index, live)
    drill.finding(
        diff.ok,
        "artifacts-index",
        where,
        f"{len(index)} artifact(s) in the index: {len(diff.missing)} missing, {len(diff.changed)} changed, "
        f"{len(diff.added)} newer than the index",
    )
    detail = f"index {where}: {len(index)} objects, {len(diff.missing)} missing, {len(diff.changed)} changed"
    if not diff.ok:
        lost = ", ".join((diff.missing + diff.changed)[:3])
        raise StepFailed(f"{detail}; artifacts missing from the bucket: {lost}")
    return detail


def config_dry_run(drill: Drill, clients: Any, outputs: dict[str, Any]) -> str:
    """Step 6: the newest config snapshot, checksum-verified, as a dry-run diff against live parameters."""
    from backupctl.live import configbackup  # noqa: PLC0415

    region = str(outputs["region"])
    bucket = str(outputs["configBucket"])
    try:
        ref, changes = configbackup.dry_run_newest(
            clients.client("s3", region),
            clients.client("ssm", region),
            clients.client("secretsmanager", region),
            outputs,
        )
    except configbackup.SnapshotRefused as exc:
        raise StepFailed(str(exc)) from None
    if ref is None:
        raise StepFailed(f"no config snapshot in s3://{bucket}/config/{outputs['environment']}/")
    drill.backup.setdefault("config", ref.key)
    pending = [f"{c.action} {c.name}" for c in changes if c.apply]
    drill.finding(
        True,
        "config-restore",
        ref.key,
        f"snapshot checksum verified; dry run: {len(pending)} change(s)"
        + (f" ({', '.join(pending[:5])})" if pending else ""),
    )
    return f"dry run of s3://{bucket}/{ref.key}: {len(pending)} change(s) to apply"


def measure(drill: Drill) -> str:
    """Step 8: RTO and RPO against the database's runbook 2.2 targets."""
    m = drill.measure()
    rpo_target, rto_target = drill.targets
    drill.finding(
        bool(m["rtoMet"]),
        "rto",
        drill.source,
        f"RTO {m['rtoSeconds']} s against the {drill.criticality} target of {rto_target} min",
    )
    drill.finding(
        bool(m["rpoMet"]),
        "rpo",
        drill.source,
        f"RPO {m['rpoSeconds']} s (target point {drill.target_point}, newest restored write "
        f"{drill.newest_write}) against the {drill.criticality} target of {rpo_target} min",
    )
    rto, rpo = m["rtoSeconds"], m["rpoSeconds"]
    detail = f"RTO {rto} s (target {rto_target} min), RPO {rpo} s (target {rpo_target} min)"
    if not (m["rtoMet"] and m["rpoMet"]):
        raise StepFailed(f"{detail}; the drill missed its runbook 2.2 targets")
    return detail
