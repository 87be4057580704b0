"""What the drill checks against a restore, the same for every target (runbook 2.1 steps 4-8, 2.2).

The heartbeat table gets a row written to the source just before the backup is chosen; the newest row
found in the restore is the newest transaction it holds, which RPO is measured against. The artifacts
index is compared with the bucket (step 4), the newest config snapshot is diffed against live parameters
(step 6), the smoke suite (tables, non-empty tables, canary queries) and an operator's smoke command run
against the restore (step 7; the moment they pass is where RTO stops), and RTO/RPO are judged (step 8).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backupctl.drill import artifacts, dbbackup
from backupctl.drill.pgtools import PgError
from backupctl.drill.recorder import Drill, StepFailed
from backupctl.errors import BadInput

HEARTBEAT_TABLE = "maestro_drill_heartbeat"
Query = Callable[[str], list[list[str]]]


def pg_time(text: str) -> datetime:
    """A timestamptz as psql prints it (``2026-11-29 12:00:00.123+00``)."""
    text = text.strip().replace(" ", "T", 1)
    if text[-3] in "+-" and text[-3:].lstrip("+-").isdigit():
        text += ":00"
    return datetime.fromisoformat(text)


def write_heartbeat(query: Query, drill_id: str, note: str) -> datetime:
    query(
        f"create table if not exists {HEARTBEAT_TABLE} (id bigserial primary key, drill_id text not null, "
        "note text not null, at timestamptz not null default clock_timestamp())"
    )
    rows = query(
        f"insert into {HEARTBEAT_TABLE} (drill_id, note) values ('{drill_id}', '{note}') returning at"
    )
    return pg_time(rows[0][0])


def newest_heartbeat(query: Query) -> datetime | None:
    rows = query(f"select max(at) from {HEARTBEAT_TABLE}")
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

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise BadInput(f"--smoke {path}", "a readable YAML or JSON file", exc.strerror) from None
        except yaml.YAMLError as exc:
            raise BadInput(f"--smoke {path}", "YAML or JSON", str(exc).splitlines()[0]) from None
        if not isinstance(data, dict):
            raise BadInput(
                f"--smoke {path}", "a mapping with tables, nonEmpty, canaries", type(data).__name__
            )
        unknown = set(data) - {"tables", "nonEmpty", "canaries"}
        if unknown:
            raise BadInput(f"--smoke {path}: key {sorted(unknown)[0]}", "one of tables, nonEmpty, canaries")
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


def artifacts_index(drill: Drill, index: artifacts.Index, live: artifacts.Index, where: str) -> str:
    """Step 4: every object of the restored index is still in the bucket, unchanged."""
    diff = artifacts.compare(index, live)
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
