"""The quarterly restore drill as code: runbook 2.1's ten checklist steps and 2.2's RTO/RPO targets.

``Drill`` records each step (status, timings, detail) and prints progress; ``run_local`` runs the
checklist on throwaway local PostgreSQL servers with real ``pg_dump``/``pg_restore``/``pg_basebackup``
and WAL replay, against S3 (a moto server by default); ``run_rds`` restores an RDS snapshot or point in
time into the staging drill network. Both measure RTO (drill start to smoke pass) and RPO (target point
to the newest heartbeat row found in the restore), write the sealed report, and clean up only what the
drill created, even when a step failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from backupctl import artifacts, dbbackup, drillreport
from backupctl.aws import as_utc
from backupctl.errors import BadInput, RefusedError
from backupctl.pgtools import (
    Conn,
    LocalServer,
    PgError,
    add_server,
    base_backup,
    chown_tree,
    scalar,
    sql,
    switch_wal_and_wait,
    tool,
    workspace,
)
from backupctl.report import Finding

STEPS = {
    1: "Isolate the drill environment",
    2: "Select the backup",
    3: "Restore the database and verify integrity",
    4: "Restore the artifacts index",
    5: "Point-in-time recovery",
    6: "Restore configuration",
    7: "Smoke tests",
    8: "Measure RTO and RPO",
    9: "Write the drill report",
    10: "Clean up",
}
# Runbook 2.2 targets per criticality (RPO minutes, RTO minutes); mirrors components.settings (tested).
TARGETS = {"critical": (15, 4 * 60), "standard": (4 * 60, 24 * 60)}
HEARTBEAT_TABLE = "maestro_drill_heartbeat"
DRILL_TAG = "maestro:drill-id"
Query = Callable[[str], list[list[str]]]


class StepFailed(Exception):
    """An expected failure of a step (integrity mismatch, smoke failure): recorded, never a traceback."""


class DrillAborted(Exception):
    """A fatal step failed; the remaining checklist steps are skipped, cleanup and report still run."""


EXPECTED_ERRORS = (
    StepFailed,
    PgError,
    dbbackup.DumpRefused,
    ClientError,
    BotoCoreError,
    WaiterError,
    OSError,
)


@dataclass
class StepRecord:
    number: int
    title: str
    status: str = "SKIP"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        started = self.started_at or datetime.now(UTC)
        finished = self.finished_at or started
        return {
            "number": self.number,
            "title": self.title,
            "status": self.status,
            "startedAt": started.isoformat(),
            "finishedAt": finished.isoformat(),
            "seconds": round((finished - started).total_seconds(), 3),
            "detail": self.detail,
        }


@dataclass
class Drill:
    mode: str
    source: str
    criticality: str
    stack: str | None = None
    out: TextIO = field(default_factory=lambda: sys.stderr)
    id: str = field(
        default_factory=lambda: f"drill-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    )
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    steps: dict[int, StepRecord] = field(
        default_factory=lambda: {n: StepRecord(n, t) for n, t in STEPS.items()}
    )
    findings: list[Finding] = field(default_factory=list)
    backup: dict[str, Any] = field(default_factory=dict)
    point_in_time: str | None = None
    newest_transaction: str | None = None
    target_point: datetime | None = None
    newest_write: datetime | None = None
    smoke_passed_at: datetime | None = None
    evidence: dict[str, Any] | None = None
    aborted: bool = False

    @property
    def targets(self) -> tuple[int, int]:
        return TARGETS[self.criticality]

    def log(self, text: str) -> None:
        print(f"        {text}", file=self.out, flush=True)

    def finding(self, ok: bool, check: str, resource: str, message: str, *, warn: bool = False) -> None:
        if warn and not ok:
            self.findings.append(Finding("WARN", "2.1", check, resource, message, mandatory=False))
        else:
            self.findings.append(Finding.judge(ok, "2.1", check, resource, message))

    @contextlib.contextmanager
    def step(self, number: int, *, fatal: bool = True) -> Iterator[StepRecord]:
        record = self.steps[number]
        print(f"[{number:>2}/10] {record.title} ...", file=self.out, flush=True)
        record.started_at = datetime.now(UTC)
        record.status = "PASS"
        try:
            yield record
        except EXPECTED_ERRORS as exc:
            record.status = "FAIL"
            record.detail = str(exc) if not record.detail else f"{record.detail}; {exc}"
            self.finding(False, f"drill-step-{number}", self.source, f"step {number} ({record.title}): {exc}")
            if fatal:
                self.aborted = True
        except BaseException:
            record.status = "FAIL"  # bad input or a bug: shown as failed, then raised (cleanup still runs)
            raise
        finally:
            record.finished_at = datetime.now(UTC)
            seconds = (record.finished_at - record.started_at).total_seconds()
            print(f"        {record.status} in {seconds:.1f} s  {record.detail}", file=self.out, flush=True)

    def skip(self, number: int, reason: str) -> None:
        record = self.steps[number]
        now = datetime.now(UTC)
        record.status, record.detail, record.started_at, record.finished_at = "SKIP", reason, now, now
        print(f"[{number:>2}/10] {record.title}: SKIP  {reason}", file=self.out, flush=True)

    def measure(self) -> dict[str, Any]:
        rpo_target, rto_target = self.targets
        rto = (self.smoke_passed_at - self.started_at).total_seconds() if self.smoke_passed_at else None
        rpo = None
        if self.target_point and self.newest_write:
            rpo = max(0.0, (self.target_point - self.newest_write).total_seconds())
        return {
            "rtoSeconds": None if rto is None else round(rto, 3),
            "rpoSeconds": None if rpo is None else round(rpo, 3),
            "rtoMet": rto is not None and rto <= rto_target * 60,
            "rpoMet": rpo is not None and rpo <= rpo_target * 60,
        }

    def report(self) -> dict[str, Any]:
        rpo_target, rto_target = self.targets
        measured = self.measure()
        failed = any(f.status == "FAIL" and f.mandatory for f in self.findings) or any(
            s.status == "FAIL" for s in self.steps.values()
        )
        ok = not failed and measured["rtoMet"] and measured["rpoMet"]
        return {
            "schema": drillreport.REPORT_SCHEMA,
            "drillId": self.id,
            "mode": self.mode,
            "stack": self.stack,
            "source": self.source,
            "criticality": self.criticality,
            "targets": {"rpoMinutes": rpo_target, "rtoMinutes": rto_target},
            "startedAt": self.started_at.isoformat(),
            "finishedAt": datetime.now(UTC).isoformat(),
            "result": "PASS" if ok else "FAIL",
            "backup": self.backup,
            "pointInTime": self.point_in_time,
            "newestTransaction": self.newest_transaction,
            **measured,
            "steps": [s.to_dict() for s in sorted(self.steps.values(), key=lambda s: s.number)],
            "findings": [f.to_dict() for f in self.findings],
            "evidence": self.evidence,
        }


@contextlib.contextmanager
def guarded(drill: Drill, number: int, *, fatal: bool = True) -> Iterator[StepRecord | None]:
    """``with guarded(drill, n) as step:``; ``step`` is None when an earlier fatal step failed (the
    checklist step is then recorded as skipped, except the report and the cleanup, which always run)."""
    if drill.aborted and number not in (9, 10):
        drill.steps[number].detail = "skipped: an earlier step failed"
        print(f"[{number:>2}/10] {drill.steps[number].title}: SKIP  (an earlier step failed)", file=drill.out)
        yield None
        return
    with drill.step(number, fatal=fatal) as record:
        yield record


def parse_time(text: str, where: str, expected: str = "an ISO time like 2026-11-29T06:00:00Z") -> datetime:
    """A user-given time; without a zone it is UTC."""
    try:
        moment = as_utc(text)
    except ValueError:
        raise BadInput(where, expected, text) from None
    if moment is None:
        raise BadInput(where, expected, text)
    return moment


def pg_time(text: str) -> datetime:
    """A timestamptz as psql prints it (``2026-11-29 12:00:00.123+00``)."""
    text = text.strip().replace(" ", "T", 1)
    if text[-3] in "+-" and text[-3:].lstrip("+-").isdigit():
        text += ":00"
    return datetime.fromisoformat(text)


# ---- the heartbeat and the smoke suite (steps 5, 7, 8) ------------------------------------------------


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


# ---- the seeded dataset of the local drill -------------------------------------------------------------

SEED_SQL = """
create table customers (id bigint primary key, email text not null unique, region text not null,
  created_at timestamptz not null);
create table orders (id bigint primary key, customer_id bigint not null references customers(id),
  status text not null, total_cents bigint not null, placed_at timestamptz not null);
create table order_items (order_id bigint not null references orders(id), line int not null,
  sku text not null, quantity int not null, price_cents bigint not null, primary key (order_id, line));
create table routing_pins (tenant text primary key, region text not null, pinned_at timestamptz not null);
create table audit_events (at timestamptz not null, tenant text not null, action text not null);
insert into customers select g, 'user' || g || '@example.com',
  (array['eu-west-1','eu-central-1','us-east-1'])[1 + g % 3],
  timestamptz '2026-01-01' + g * interval '1 minute' from generate_series(1, {customers}) g;
insert into orders select g, 1 + g % {customers}, (array['placed','paid','shipped','refunded'])[1 + g % 4],
  (g::bigint * 7919) % 100000, timestamptz '2026-02-01' + g * interval '10 seconds'
  from generate_series(1, {orders}) g;
insert into order_items select o, l, 'SKU-' || ((o::bigint * l) % 5000), 1 + (o + l) % 5,
  ((o::bigint * 31 + l) % 9000) + 100 from generate_series(1, {orders}) o, generate_series(1, 3) l;
insert into routing_pins select 'tenant-' || g, (array['eu-west-1','eu-central-1'])[1 + g % 2], now()
  from generate_series(1, 50) g;
insert into audit_events select timestamptz '2026-03-01' + g * interval '1 second', 'tenant-' || (g % 50),
  (array['login','pin-change','export'])[1 + g % 3] from generate_series(1, {orders} / 10) g;
analyze;
"""

DEFAULT_SUITE = SmokeSuite(
    tables=[
        "public.customers",
        "public.orders",
        "public.order_items",
        "public.routing_pins",
        "public.audit_events",
    ],
    non_empty=["public.customers", "public.orders", "public.order_items", "public.routing_pins"],
    canaries={
        "every-order-has-a-customer": "select not exists (select 1 from orders o left join customers c "
        "on c.id = o.customer_id where c.id is null)",
        "every-order-has-items": "select not exists (select 1 from orders o where not exists "
        "(select 1 from order_items i where i.order_id = o.id))",
        "routing-pins-cover-tenants": "select count(*) = 50 from routing_pins",
    },
)


def seed(conn: Conn, orders: int) -> None:
    customers = max(10, orders // 5)
    sql(conn, SEED_SQL.format(customers=customers, orders=orders))


# ---- local drill ------------------------------------------------------------------------------------


@dataclass
class LocalOptions:
    clients: Any  # backupctl.aws.Clients for S3 (moto server or real)
    bucket: str
    evidence_bucket: str
    report_dir: Path
    dsn: str | None = None
    orders: int = 20_000
    jobs: int = 2
    criticality: str = "critical"
    prefix: str = "backups/postgres"
    suite: SmokeSuite | None = None
    smoke_command: str | None = None
    keep: bool = False
    kms_key_id: str | None = None
    config_restore: Callable[[Drill], str] | None = None
    workdir: str | None = None
    after_backup: Callable[[Any, dict[str, Any]], None] | None = None  # tests: damage the stored dump
    after_restore: Callable[[Conn], None] | None = None  # tests: damage the restored database


LOCAL_TOOLS = ("initdb", "pg_ctl", "postgres", "psql", "pg_dump", "pg_restore", "pg_basebackup")


def run_local(opts: LocalOptions, out: TextIO | None = None) -> dict[str, Any]:
    for name in LOCAL_TOOLS:
        tool(name)  # every binary up front: a missing one is a one-line error before anything starts
    source_name = "--dsn database" if opts.dsn else "seeded local database"
    drill = Drill("local", source_name, opts.criticality, out=out or sys.stderr)
    s3 = opts.clients.client("s3")
    suite = opts.suite or (DEFAULT_SUITE if not opts.dsn else None)
    with workspace(base=opts.workdir, keep=opts.keep) as (root, servers):
        archive = root / "wal-archive"
        source = Conn()
        restore_server: LocalServer | None = None
        restored: Conn | None = None
        base: Path | None = None
        dump_manifest: dict[str, Any] = {}
        index_key = f"index/{drill.id}.json"

        with guarded(drill, 1) as step:
            if step is not None:
                if opts.dsn:
                    source = Conn(dsn=opts.dsn)
                    scalar(source, "select 1")
                else:
                    archive.mkdir()
                    chown_tree(archive)
                    server = add_server(root, servers, "source").init(archive_dir=archive).start()
                    source = server.conn
                    drill.log(f"seeding {opts.orders} orders into the source on port {server.port}")
                    seed(source, opts.orders)
                restore_server = add_server(root, servers, "restore").init().start()
                step.detail = (
                    f"restores go to throwaway servers on 127.0.0.1 under {root} (restore port "
                    f"{restore_server.port}); the source is only read and given heartbeat rows"
                )

        with guarded(drill, 2) as step:
            if step is not None:
                query = _query(source)
                write_heartbeat(query, drill.id, "before-backup")
                if not opts.dsn:
                    base = base_backup(source, root / "base")
                result = dbbackup.dump(source, root / "drill.dump", jobs=opts.jobs, progress=drill.log)
                dbbackup.upload(s3, opts.bucket, opts.prefix, result, kms_key_id=opts.kms_key_id)
                artifacts.write_listing_snapshot(
                    s3, opts.bucket, index_key, artifacts.listing(s3, opts.bucket)
                )
                chosen = dbbackup.newest_manifest(s3, opts.bucket, opts.prefix, result.manifest["database"])
                if chosen is None:
                    raise StepFailed(f"no dump manifest under s3://{opts.bucket}/{opts.prefix}")
                dump_manifest = chosen
                drill.target_point = datetime.fromisoformat(chosen["snapshotTime"])
                drill.backup = {
                    "kind": "pg_dump -Fc",
                    "id": f"s3://{chosen['bucket']}/{chosen['key']}",
                    "createdAt": chosen["snapshotTime"],
                    "description": f"logical dump s3://{chosen['bucket']}/{chosen['key']} "
                    f"({chosen['bytes']} bytes, {len(chosen['tables'])} tables)",
                    "why": "the newest dump manifest for this database in the backup bucket; "
                    + (
                        "plus a pg_basebackup with archived WAL for point-in-time recovery"
                        if base
                        else "no physical backup: --dsn sources are restored logically"
                    ),
                }
                step.detail = drill.backup["description"]
                if base is not None:
                    before = write_heartbeat(query, drill.id, "before-target")
                    target = datetime.now(UTC)
                    while target <= before:
                        target = datetime.now(UTC)
                    time.sleep(0.05)
                    write_heartbeat(query, drill.id, "after-target")
                    switch_wal_and_wait(source, archive)
                    drill.point_in_time = target.isoformat()

        with guarded(drill, 3) as step:
            if step is not None and restore_server is not None:
                if opts.after_backup:
                    opts.after_backup(s3, dump_manifest)
                path = dbbackup.download(s3, dump_manifest, root / "downloaded.dump")
                manifest = dump_manifest

                def verify(conn: Conn) -> dict[str, dict[str, Any]]:
                    if opts.after_restore:
                        opts.after_restore(conn)
                    return dbbackup.restored_stats(conn, manifest, jobs=opts.jobs)

                restored, verified = dbbackup.restore(
                    restore_server.conn, "drill_restore", path, jobs=opts.jobs, alongside=verify
                )
                stats = verified or {}
                problems = dbbackup.compare(dump_manifest, stats)
                for problem in problems:
                    drill.finding(False, "restore-integrity", "drill_restore", problem)
                if problems:
                    raise StepFailed(f"{len(problems)} integrity problem(s): {problems[0]}")
                drill.finding(
                    True,
                    "restore-integrity",
                    "drill_restore",
                    f"{len(stats)} tables match the manifest's row counts and checksums",
                )
                step.detail = (
                    f"pg_restore -j{opts.jobs} into drill_restore; {len(stats)} tables, "
                    f"{sum(t['rows'] for t in stats.values())} rows match the manifest"
                )

        with guarded(drill, 4, fatal=False) as step:
            if step is not None:
                _artifacts_step(
                    drill,
                    step,
                    artifacts.read_listing_snapshot(s3, opts.bucket, index_key),
                    artifacts.listing(s3, opts.bucket),
                    f"s3://{opts.bucket}/{index_key}",
                )

        pitr_step: contextlib.AbstractContextManager[StepRecord | None] = contextlib.nullcontext()
        if base is None and not drill.aborted:
            drill.skip(5, "needs a physical base backup with WAL archiving: not available for --dsn sources")
        else:
            pitr_step = guarded(drill, 5)
        with pitr_step as step:
            if step is not None and base is not None and drill.point_in_time:
                pitr = add_server(root, servers, "pitr")
                pitr.recover_to(base, archive, drill.point_in_time).start()
                pitr.wait_promoted()
                notes = {
                    r[0]
                    for r in sql(
                        pitr.conn, f"select note from {HEARTBEAT_TABLE} where drill_id = '{drill.id}'"
                    )
                }
                newest = newest_heartbeat(_query(pitr.conn))
                drill.newest_transaction = newest.isoformat() if newest else None
                ok = "before-target" in notes and "after-target" not in notes
                drill.finding(
                    ok,
                    "pitr-target",
                    "pitr",
                    f"replayed WAL to {drill.point_in_time}: the write before it is "
                    f"{'present' if 'before-target' in notes else 'MISSING'}, the write after it is "
                    f"{'absent' if 'after-target' not in notes else 'PRESENT'}",
                )
                if not ok:
                    raise StepFailed("the point-in-time restore does not stop at the target time")
                step.detail = (
                    f"restored to {drill.point_in_time}; newest transaction {drill.newest_transaction}"
                )

        with guarded(drill, 6, fatal=False) as step:
            if step is not None:
                if opts.config_restore is None:
                    step.status, step.detail = (
                        "SKIP",
                        "no stack outputs: config restore runs in drill --stack",
                    )
                else:
                    step.detail = opts.config_restore(drill)

        with guarded(drill, 7) as step:
            if step is not None and restored is not None:
                env = {
                    "PGHOST": restored.host,
                    "PGPORT": str(restored.port),
                    "PGUSER": restored.user,
                    "PGDATABASE": restored.dbname,
                }
                _smoke(drill, step, _query(restored), suite, opts.smoke_command, env, "drill_restore")

        with guarded(drill, 8, fatal=False) as step:
            if step is not None and restored is not None:
                drill.newest_write = newest_heartbeat(_query(restored))
                _measure_step(drill, step)

    _finish_cleanup(drill, servers, opts.keep)
    return _seal(drill, s3, opts.evidence_bucket, opts.report_dir, kms_key_id=opts.kms_key_id)


def _query(conn: Conn) -> Query:
    return lambda statement: sql(conn, statement)


def _artifacts_step(
    drill: Drill, step: StepRecord, index: artifacts.Index, live: artifacts.Index, where: str
) -> None:
    diff = artifacts.compare(index, live)
    drill.finding(
        diff.ok,
        "artifacts-index",
        where,
        f"{len(index)} artifact(s) in the index: {len(diff.missing)} missing, {len(diff.changed)} changed, "
        f"{len(diff.added)} newer than the index",
    )
    step.detail = (
        f"index {where}: {len(index)} objects, {len(diff.missing)} missing, {len(diff.changed)} changed"
    )
    if not diff.ok:
        raise StepFailed(f"artifacts missing from the bucket: {', '.join((diff.missing + diff.changed)[:3])}")


def _smoke(
    drill: Drill,
    step: StepRecord,
    query: Query,
    suite: SmokeSuite | None,
    command: str | None,
    command_env: dict[str, str],
    resource: str,
) -> None:
    """Step 7 for both drills: the suite, then the smoke command, then the moment RTO stops."""
    problems = (suite or SmokeSuite()).run(query)
    for problem in problems:
        drill.finding(False, "smoke", resource, problem)
    if problems:
        raise StepFailed(f"{len(problems)} smoke check(s) failed: {problems[0]}")
    if command:
        run_smoke_command(command, command_env)
    drill.smoke_passed_at = datetime.now(UTC)
    checks = len(suite.tables) + len(suite.non_empty) + len(suite.canaries) if suite else 0
    drill.finding(
        True,
        "smoke",
        resource,
        f"{checks} smoke check(s) pass" + (" and the smoke command" if command else ""),
    )
    step.detail = f"{checks} checks pass" + (f"; `{command}` passed" if command else "")


def _measure_step(drill: Drill, step: StepRecord) -> None:
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
    step.detail = f"RTO {rto} s (target {rto_target} min), RPO {rpo} s (target {rpo_target} min)"
    if not (m["rtoMet"] and m["rpoMet"]):
        raise StepFailed("the drill missed its runbook 2.2 targets")


def _finish_cleanup(drill: Drill, servers: Sequence[LocalServer], keep: bool) -> None:
    with guarded(drill, 10, fatal=False) as step:
        if step is None:
            return
        if keep:
            step.detail = "kept for inspection (--keep): " + ", ".join(
                f"server {s.data} on port {s.port}" for s in servers
            )
            return
        running = [s for s in servers if _alive(s.pid())]
        if running:
            raise StepFailed(f"servers still running: {', '.join(str(s.port) for s in running)}")
        leftovers = [str(s.root) for s in servers if s.root.exists()]
        if leftovers:
            raise StepFailed(f"work directories left behind: {', '.join(leftovers)}")
        step.detail = f"stopped {len(servers)} server(s) and removed their work directory"


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _seal(
    drill: Drill, s3: Any, evidence_bucket: str | None, report_dir: Path, *, kms_key_id: str | None
) -> dict[str, Any]:
    with guarded(drill, 9, fatal=False) as step:
        if step is not None:
            step.detail = "JSON + Markdown"
            if evidence_bucket:
                # The sealed copy names where it is sealed; the lock details follow once written.
                keys = drillreport.evidence_keys(drill.id, drill.started_at)
                drill.evidence = {"bucket": evidence_bucket, "keys": list(keys)}
                try:
                    drill.evidence = drillreport.write_evidence(
                        s3, evidence_bucket, drill.report(), kms_key_id=kms_key_id
                    )
                except BadInput as exc:
                    drill.evidence = None
                    raise StepFailed(str(exc)) from None
                sealed = drill.evidence
                until, mode = sealed["retainUntil"][:10], sealed["lockMode"]
                step.detail += f" sealed in s3://{evidence_bucket} until {until} ({mode})"
    report = drill.report()
    json_path, md_path = drillreport.write_local(report, report_dir)
    report["localFiles"] = [str(json_path), str(md_path)]
    return report


# ---- RDS drill --------------------------------------------------------------------------------------


@dataclass
class RdsOptions:
    clients: Any
    outputs: dict[str, Any]
    report_dir: Path
    source: str | None = None
    point_in_time: datetime | None = None
    snapshot: str | None = None
    keep: bool = False
    suite: SmokeSuite | None = None
    smoke_command: str | None = None
    connect: Callable[[dict[str, Any], str], Query] | None = None  # instance, dbname -> query runner
    waiter_delay: int = 30
    waiter_attempts: int = 120  # 60 minutes: large restores take a while
    dbname: str = "postgres"


def psql_connector(clients: Any, region: str) -> Callable[[dict[str, Any], str], Query]:
    """Connects with psql as the master user; the password comes from the RDS-managed secret and is only
    handed to psql in its environment, never printed or stored."""

    def connect(instance: dict[str, Any], dbname: str) -> Query:
        secret_arn = (instance.get("MasterUserSecret") or {}).get("SecretArn")
        env: dict[str, str] = {"PGSSLMODE": "require", "PGCONNECT_TIMEOUT": "15"}
        if secret_arn:
            value = clients.client("secretsmanager", region).get_secret_value(SecretId=secret_arn)[
                "SecretString"
            ]
            env["PGPASSWORD"] = json.loads(value)["password"]
        conn = Conn(
            host=instance["Endpoint"]["Address"],
            port=int(instance["Endpoint"]["Port"]),
            user=instance["MasterUsername"],
            dbname=dbname,
            env=env,
        )
        return _query(conn)

    return connect


def _tags(rds: Any, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in rds.list_tags_for_resource(ResourceName=arn).get("TagList", [])}


def refuse_unless_drill_target(outputs: dict[str, Any], rds: Any, identifier: str) -> dict[str, Any]:
    """Step 1's refusals: never prod, never a stack or database not marked as a drill target."""
    if outputs.get("environment") == "prod":
        raise RefusedError("drills never run against prod: use the staging stack (runbook 2.1 step 1)")
    if outputs.get("drillTarget") is not True:
        raise RefusedError(
            f"stack {outputs.get('environment')} is not a drill target (output drillTarget is not true)"
        )
    if not outputs.get("drillSubnetGroup") or not outputs.get("drillSecurityGroupId"):
        raise RefusedError("the stack has no isolated drill network (drillSubnetGroup, drillSecurityGroupId)")
    try:
        instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    except ClientError as exc:
        raise BadInput(
            "--source",
            "a database of the stack that exists",
            f"{identifier} ({exc.response['Error']['Code']})",
        ) from None
    if _tags(rds, instance["DBInstanceArn"]).get("maestro:drill-target") != "true":
        raise RefusedError(
            f"database {identifier} is not tagged maestro:drill-target=true; refusing to drill it"
        )
    return instance


def select_backup(rds: Any, instance: dict[str, Any], opts: RdsOptions) -> dict[str, Any]:
    """Step 2: an explicit snapshot, a PITR time inside the restorable window, or the newest snapshot."""
    ident = instance["DBInstanceIdentifier"]
    if opts.snapshot:
        try:
            snap = rds.describe_db_snapshots(DBSnapshotIdentifier=opts.snapshot)["DBSnapshots"][0]
        except ClientError:
            raise BadInput("--snapshot", f"a snapshot of {ident}", opts.snapshot) from None
        return {
            "kind": "snapshot",
            "id": snap["DBSnapshotIdentifier"],
            "createdAt": snap["SnapshotCreateTime"].isoformat(),
            "description": f"snapshot {snap['DBSnapshotIdentifier']} ({snap.get('SnapshotType')})",
            "why": "requested with --snapshot",
            "point": snap["SnapshotCreateTime"],
        }
    if opts.point_in_time:
        latest = instance.get("LatestRestorableTime")
        earliest = datetime.now(UTC) - timedelta(days=int(instance.get("BackupRetentionPeriod", 0)))
        if latest is None or not earliest <= opts.point_in_time <= latest:
            raise BadInput(
                "--point-in-time",
                f"a time between {earliest:%Y-%m-%dT%H:%M}Z and {latest}",
                opts.point_in_time.isoformat(),
            )
        return {
            "kind": "point-in-time",
            "id": opts.point_in_time.isoformat(),
            "createdAt": opts.point_in_time.isoformat(),
            "description": f"point in time {opts.point_in_time.isoformat()} of {ident}",
            "why": "requested with --point-in-time; inside the restorable window "
            f"(latest {latest.isoformat()})",
            "point": opts.point_in_time,
        }
    snaps = [
        s
        for p in rds.get_paginator("describe_db_snapshots").paginate(DBInstanceIdentifier=ident)
        for s in p["DBSnapshots"]
        if s.get("Status") == "available"
    ]
    if not snaps:
        raise StepFailed(f"database {ident} has no available snapshot")
    newest = max(snaps, key=lambda s: s["SnapshotCreateTime"])
    return {
        "kind": "snapshot",
        "id": newest["DBSnapshotIdentifier"],
        "createdAt": newest["SnapshotCreateTime"].isoformat(),
        "description": f"snapshot {newest['DBSnapshotIdentifier']} ({newest.get('SnapshotType')}, "
        f"{newest['SnapshotCreateTime']:%Y-%m-%d %H:%M}Z)",
        "why": f"the newest available of {len(snaps)} snapshot(s) of {ident}",
        "point": newest["SnapshotCreateTime"],
    }


def run_rds(opts: RdsOptions, out: TextIO | None = None) -> dict[str, Any]:
    outputs = opts.outputs
    region = str(outputs["region"])
    rds = opts.clients.client("rds", region)
    s3 = opts.clients.client("s3", region)
    dbs = {str(d["name"]): d for d in outputs["databases"]} | {
        str(d["identifier"]): d for d in outputs["databases"]
    }
    spec = dbs.get(opts.source or str(outputs["databases"][0]["name"]))
    if spec is None:
        raise BadInput(
            "--source", f"one of {', '.join(sorted(d['name'] for d in outputs['databases']))}", opts.source
        )
    instance = refuse_unless_drill_target(outputs, rds, str(spec["identifier"]))
    connect = opts.connect or psql_connector(opts.clients, region)
    drill = Drill(
        "rds",
        str(spec["identifier"]),
        str(spec["criticality"]),
        stack=str(outputs["environment"]),
        out=out or sys.stderr,
    )
    target_id = f"{drill.id}-{spec['name']}"[:63]
    created: list[str] = []
    query: Query | None = None
    smoke_env: dict[str, str] = {}

    with guarded(drill, 1) as step:
        if step is not None:
            source_query = connect(instance, opts.dbname)
            write_heartbeat(source_query, drill.id, "before-drill")
            step.detail = (
                f"restore into subnet group {outputs['drillSubnetGroup']} and security group "
                f"{outputs['drillSecurityGroupId']}; tagged {DRILL_TAG}={drill.id}"
            )
    with guarded(drill, 2) as step:
        if step is not None:
            chosen = select_backup(rds, instance, opts)
            point = chosen.pop("point")
            drill.target_point = point if point.tzinfo else point.replace(tzinfo=UTC)
            drill.backup = chosen
            step.detail = f"{chosen['description']}: {chosen['why']}"
    with guarded(drill, 3) as step:
        if step is not None:
            common = {
                "DBSubnetGroupName": outputs["drillSubnetGroup"],
                "VpcSecurityGroupIds": [outputs["drillSecurityGroupId"]],
                "PubliclyAccessible": False,
                "MultiAZ": False,
                "DeletionProtection": False,
                "CopyTagsToSnapshot": False,
                "Tags": [
                    {"Key": DRILL_TAG, "Value": drill.id},
                    {"Key": "maestro:created-by", "Value": "backupctl drill"},
                ],
            }
            if drill.backup["kind"] == "point-in-time":
                rds.restore_db_instance_to_point_in_time(
                    SourceDBInstanceIdentifier=instance["DBInstanceIdentifier"],
                    TargetDBInstanceIdentifier=target_id,
                    RestoreTime=drill.target_point,
                    **common,
                )
                drill.point_in_time = drill.target_point.isoformat() if drill.target_point else None
            else:
                rds.restore_db_instance_from_db_snapshot(
                    DBInstanceIdentifier=target_id, DBSnapshotIdentifier=drill.backup["id"], **common
                )
            created.append(target_id)
            drill.log(f"waiting for {target_id} (db_instance_available, every {opts.waiter_delay} s)")
            rds.get_waiter("db_instance_available").wait(
                DBInstanceIdentifier=target_id,
                WaiterConfig={"Delay": opts.waiter_delay, "MaxAttempts": opts.waiter_attempts},
            )
            restored = rds.describe_db_instances(DBInstanceIdentifier=target_id)["DBInstances"][0]
            query = connect(restored, opts.dbname)
            # The smoke command reaches the restore, not the source; it fetches its own credentials.
            smoke_env = {
                "PGHOST": str(restored["Endpoint"]["Address"]),
                "PGPORT": str(restored["Endpoint"]["Port"]),
                "PGUSER": str(restored["MasterUsername"]),
                "PGDATABASE": opts.dbname,
                "PGSSLMODE": "require",
            }
            tables = [r[0] for r in query(dbbackup.USER_TABLES)]
            if not tables:
                raise StepFailed(f"{target_id} restored with no user tables")
            unreadable = []
            for table in tables:
                try:
                    query(f"select count(*) from {dbbackup.qualified(table)}")
                except PgError as exc:
                    unreadable.append(f"{table} ({exc})")
            drill.finding(
                not unreadable,
                "restore-integrity",
                target_id,
                f"{len(tables) - len(unreadable)} of {len(tables)} tables readable"
                + (f"; unreadable: {', '.join(unreadable[:3])}" if unreadable else ""),
            )
            if unreadable:
                raise StepFailed(f"{len(unreadable)} table(s) unreadable after the restore")
            step.detail = f"{target_id} available; {len(tables)} tables readable"
    with guarded(drill, 4, fatal=False) as step:
        if step is not None:
            bucket = str(outputs["artifactsBucket"])
            found = artifacts.newest_inventory(s3, str(outputs.get("auditBucket") or bucket), bucket)
            if found is None:
                step.status = "SKIP"
                step.detail = (
                    "no S3 inventory of the artifacts bucket delivered yet (first delivery within 48 h)"
                )
                drill.finding(False, "artifacts-index", bucket, step.detail, warn=True)
            else:
                _artifacts_step(
                    drill,
                    step,
                    found[1],
                    artifacts.listing(s3, bucket),
                    f"s3://{outputs.get('auditBucket')}/{found[0]}",
                )
    with guarded(drill, 5, fatal=False) as step:
        if step is not None and query is not None:
            newest = newest_heartbeat(query)
            drill.newest_transaction = newest.isoformat() if newest else None
            step.detail = (
                f"restored point {drill.target_point.isoformat() if drill.target_point else 'n/a'}; "
                f"newest transaction found {drill.newest_transaction or 'none'}"
            )
    with guarded(drill, 6, fatal=False) as step:
        if step is not None:
            step.detail = config_dry_run(opts.clients, outputs, drill)
    with guarded(drill, 7) as step:
        if step is not None and query is not None:
            _smoke(drill, step, query, opts.suite, opts.smoke_command, smoke_env, target_id)
    with guarded(drill, 8, fatal=False) as step:
        if step is not None and query is not None:
            drill.newest_write = newest_heartbeat(query)
            _measure_step(drill, step)

    with guarded(drill, 10, fatal=False) as step:
        if step is not None:
            step.detail = cleanup_rds(rds, created, drill.id, keep=opts.keep)
    return _seal(
        drill,
        s3,
        str(outputs.get("evidenceBucket") or "") or None,
        opts.report_dir,
        kms_key_id=outputs.get("keyArns", {}).get("storage"),
    )


def cleanup_rds(rds: Any, created: Sequence[str], drill_id: str, *, keep: bool) -> str:
    """Deletes only instances this drill created, checked by their drill-id tag; never anything else."""
    if keep:
        return f"kept for inspection (--keep): {', '.join(created) or 'nothing'}"
    deleted, refused = [], []
    for ident in created:
        try:
            instance = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
        except ClientError:
            continue  # the restore never started: nothing to delete
        if _tags(rds, instance["DBInstanceArn"]).get(DRILL_TAG) != drill_id:
            refused.append(ident)
            continue
        rds.delete_db_instance(
            DBInstanceIdentifier=ident, SkipFinalSnapshot=True, DeleteAutomatedBackups=True
        )
        deleted.append(ident)
    if refused:
        raise StepFailed(f"not deleting {', '.join(refused)}: not tagged {DRILL_TAG}={drill_id}")
    return f"deleted {', '.join(deleted) or 'nothing'} (tagged {DRILL_TAG}={drill_id})"


def config_dry_run(clients: Any, outputs: dict[str, Any], drill: Drill) -> str:
    """Step 6: the newest config snapshot, checksum-verified, as a dry-run diff against live parameters."""
    from backupctl import configbackup  # noqa: PLC0415

    region = str(outputs["region"])
    s3 = clients.client("s3", region)
    bucket = str(outputs["configBucket"])
    refs = configbackup.list_snapshots(s3, bucket, str(outputs["environment"]))
    if not refs:
        raise StepFailed(f"no config snapshot in s3://{bucket}/config/{outputs['environment']}/")
    try:
        document, _ = configbackup.load_snapshot(s3, bucket, refs[-1])
    except configbackup.SnapshotRefused as exc:
        raise StepFailed(str(exc)) from None
    live = configbackup.collect_stack(
        clients.client("ssm", region), clients.client("secretsmanager", region), outputs
    )
    changes = configbackup.plan_restore(document, live, prune=False)
    drill.backup.setdefault("config", refs[-1].key)
    pending = [f"{c.action} {c.name}" for c in changes if c.apply]
    drill.finding(
        True,
        "config-restore",
        refs[-1].key,
        f"snapshot checksum verified; dry run: {len(pending)} change(s)"
        + (f" ({', '.join(pending[:5])})" if pending else ""),
    )
    return f"dry run of s3://{bucket}/{refs[-1].key}: {len(pending)} change(s) to apply"


def local_config_restore(clients: Any, bucket: str) -> Callable[[Drill], str]:
    """Step 6 of the local drill: the ops config backup and restore code against the drill's S3/SSM
    (the moto server): pins are backed up, one drifts, and the dry-run diff must show it."""

    def restore(drill: Drill) -> str:
        from backupctl import configbackup  # noqa: PLC0415

        ssm, sm = clients.client("ssm"), clients.client("secretsmanager")
        outputs = {
            "region": clients.region or "us-east-1",
            "environment": "drill",
            "configBucket": bucket,
            "parameterPaths": ["/maestro/drill"],
            "secretsPrefix": "maestro-drill/",
        }
        for i, region in enumerate(("eu-west-1", "eu-central-1")):
            ssm.put_parameter(
                Name=f"/maestro/drill/routing-pins/tenant-{i}", Value=region, Type="String", Overwrite=True
            )
        snapshot = configbackup.collect_stack(ssm, sm, outputs)
        configbackup.write_snapshot(clients.client("s3"), bucket, None, snapshot)
        ssm.put_parameter(
            Name="/maestro/drill/routing-pins/tenant-1", Value="us-east-1", Type="String", Overwrite=True
        )
        return config_dry_run(clients, outputs, drill)

    return restore
