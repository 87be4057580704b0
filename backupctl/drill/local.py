"""The local drill target (runbook 2.1 on throwaway PostgreSQL): ``drill --local``.

Two ways to pick the backup (step 2):

- restore the backups that exist (``--from-bucket``, the runbook's "select a recent backup"): the newest
  ``backup db`` backup of the ``--dsn`` database, or the one named, or the newest at or before a time;
  the source is only asked its name, and RPO counts the backup's age;
- the embedded demo: a seeded source server (WAL archived) or the ``--dsn`` database is dumped now with
  ``pg_dump -Fc`` and a same-snapshot manifest to S3 (plus ``pg_basebackup`` for point-in-time recovery).

Step 1 starts an empty restore server on 127.0.0.1 in a work dir of its own; step 3 downloads the dump,
checks its SHA-256, recreates the database with the source's encoding and locale, ``pg_restore -j``,
compares every table and sequence with the manifest and brings back the database-level settings; step 5
replays WAL to a target time into another server; step 10 stops every server and removes the work dir.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from backupctl.drill import checks, dbbackup, integrity, steps
from backupctl.drill.checks import HEARTBEAT_TABLE, Query, SmokeSuite, newest_heartbeat, write_heartbeat
from backupctl.drill.pgtools import (
    Conn,
    LocalServer,
    PgError,
    Workspace,
    base_backup,
    chown_tree,
    full_disk,
    one_line,
    pid_alive,
    scalar,
    sql,
    switch_wal_and_wait,
    tool,
)
from backupctl.drill.recorder import Drill, StepFailed, StepSkipped
from backupctl.drill.sandbox import DEFAULT_SUITE, seed

LOCAL_TOOLS = ("initdb", "pg_ctl", "postgres", "psql", "pg_dump", "pg_restore", "pg_basebackup")
RESTORED_DB = "drill_restore"


@dataclass
class Stored:
    """``--from-bucket``: restore an existing backup instead of taking one."""

    bucket: str
    prefix: str
    choice: dbbackup.Choice = field(default_factory=dbbackup.Choice)


@dataclass
class LocalOptions:
    clients: Any  # backupctl.live.aws.Clients for S3 (moto server or real)
    bucket: str
    evidence_bucket: str | None
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
    stored: Stored | None = None
    after_backup: Callable[[Any, dict[str, Any]], None] | None = None  # tests: damage the stored dump
    after_restore: Callable[[Conn], None] | None = None  # tests: damage the restored database


def names_a_full_disk(method: Callable[[LocalPostgres], str]) -> Callable[[LocalPostgres], str]:
    """A step that fails on a full work dir says so first, whatever words the tool chose."""

    @functools.wraps(method)
    def step(self: LocalPostgres) -> str:
        try:
            return method(self)
        except (PgError, OSError) as exc:
            note = full_disk(self.space.root) if self.space is not None else None
            if note is None or "No space left on device" in str(exc):
                raise
            log = getattr(exc, "log", "") or str(exc)
            raise PgError(f"{note}: {one_line(str(exc))}", log=log) from exc

    return step


def query_of(conn: Conn) -> Query:
    return lambda statement: sql(conn, statement)


class LocalPostgres:
    """``steps.Target`` on throwaway local servers."""

    def __init__(self, opts: LocalOptions, drill: Drill) -> None:
        self.opts, self.drill = opts, drill
        self.s3 = opts.clients.client("s3")
        self.evidence = steps.Evidence(self.s3, opts.evidence_bucket, opts.report_dir, opts.kms_key_id)
        self.smoke = steps.Smoke(opts.suite or (None if opts.dsn else DEFAULT_SUITE), opts.smoke_command)
        self.space: Workspace | None = None
        self.source = Conn()
        self.restore_server: LocalServer | None = None
        self.restored: Conn | None = None
        self.base: Path | None = None
        self.manifest: dict[str, Any] = {}
        self.index_key = f"index/{drill.id}.json"

    @property
    def work(self) -> Workspace:
        if self.space is None:
            raise StepFailed("the work directory was never created")
        return self.space

    @names_a_full_disk
    def isolate(self) -> str:
        space = self.space = Workspace.create(base=self.opts.workdir, keep=self.opts.keep)
        if self.opts.dsn:
            self.source = Conn(dsn=self.opts.dsn)
            self.drill.database = scalar(self.source, "select current_database()")
        else:
            archive = space.root / "wal-archive"
            archive.mkdir()
            chown_tree(archive)
            server = space.add_server("source").init(archive_dir=archive).start()
            self.source = server.conn
            self.drill.database = self.source.dbname
            self.drill.log(f"seeding {self.opts.orders} orders into the source on port {server.port}")
            seed(self.source, self.opts.orders)
        self.restore_server = space.add_server("restore").init().start()
        touched = "only asked its name" if self.opts.stored else "only read and given heartbeat rows"
        return (
            f"restores go to throwaway servers on 127.0.0.1 under {space.root} (restore port "
            f"{self.restore_server.port}); the source is {touched}"
        )

    @names_a_full_disk
    def select_backup(self) -> str:
        if self.opts.stored is not None:
            return self._select_stored(self.opts.stored)
        opts, drill = self.opts, self.drill
        query = query_of(self.source)
        write_heartbeat(query, drill.id, "before-backup")
        if not opts.dsn:
            self.base = base_backup(self.source, self.work.root / "base")
        stored = dbbackup.backup(
            self.source,
            self.work.root / "drill.dump",
            self.s3,
            opts.bucket,
            opts.prefix,
            jobs=opts.jobs,
            kms_key_id=opts.kms_key_id,
            progress=drill.log,
        )
        checks.write_listing_snapshot(
            self.s3, opts.bucket, self.index_key, checks.listing(self.s3, opts.bucket)
        )
        self.manifest = stored
        drill.target_point = datetime.fromisoformat(stored["snapshotTime"])
        drill.backup = self._described(stored, "taken by this drill (the embedded demo); ")
        drill.backup["why"] += (
            "plus a pg_basebackup with archived WAL for point-in-time recovery"
            if self.base
            else "no physical backup: --dsn sources are restored logically"
        )
        if self.base is not None:
            self._mark_target(query)
        return str(drill.backup["description"])

    def _described(self, manifest: dict[str, Any], why: str) -> dict[str, Any]:
        taken = datetime.fromisoformat(manifest["snapshotTime"])
        return {
            "kind": "pg_dump -Fc",
            "id": f"s3://{manifest['bucket']}/{manifest['key']}",
            "createdAt": manifest["snapshotTime"],
            "ageSeconds": round(max(0.0, (self.drill.started_at - taken).total_seconds()), 3),
            "description": f"logical dump s3://{manifest['bucket']}/{manifest['key']} "
            f"({manifest['bytes']} bytes, {len(manifest['tables'])} tables, "
            f"{len(manifest.get('sequences', {}))} sequences)",
            "why": why,
        }

    def _select_stored(self, stored: Stored) -> str:
        """Step 2 of ``--from-bucket``: the chosen backup of this database; RPO is its age (the drill
        restores as if the database were lost now)."""
        drill, choice = self.drill, stored.choice
        database = drill.database or ""
        key, count = dbbackup.select(self.s3, stored.bucket, stored.prefix, database, choice)
        self.manifest = dbbackup.read_manifest(self.s3, stored.bucket, key)
        why = (
            f"requested with --backup {choice.key}"
            if choice.key
            else f"the newest of {count} backup(s) taken at or before {choice.at.isoformat()}"
            if choice.at
            else f"the newest of {count} backup(s) of {database}"
        )
        drill.backup = self._described(self.manifest, why)
        drill.target_point = drill.started_at
        drill.newest_write = datetime.fromisoformat(self.manifest["snapshotTime"])
        return f"{drill.backup['description']}: {why}; {drill.backup['ageSeconds']:.0f} s old"

    def _mark_target(self, query: Query) -> None:
        """A write just before the PITR target and one just after it; replay must keep only the first."""
        before = write_heartbeat(query, self.drill.id, "before-target")
        target = datetime.now(UTC)
        while target <= before:
            target = datetime.now(UTC)
        time.sleep(0.05)
        write_heartbeat(query, self.drill.id, "after-target")
        switch_wal_and_wait(self.source, self.work.root / "wal-archive")
        self.drill.point_in_time = target.isoformat()

    @names_a_full_disk
    def restore(self) -> str:
        opts, drill, manifest = self.opts, self.drill, self.manifest
        if self.restore_server is None:
            raise StepFailed("no restore server")
        if opts.after_backup:
            opts.after_backup(self.s3, manifest)
        path = dbbackup.download(self.s3, manifest, self.work.root / "downloaded.dump")

        def verify(conn: Conn) -> dbbackup.Verified:
            if opts.after_restore:
                opts.after_restore(conn)
            return dbbackup.verify(conn, manifest, jobs=opts.jobs)

        facts = manifest["databaseFacts"]
        try:
            self.restored, verified, notes = dbbackup.restore(
                self.restore_server.conn, RESTORED_DB, path, facts, jobs=opts.jobs, alongside=verify
            )
        except PgError as exc:
            crash = self.restore_server.crash()  # a server that went down says why in its own log
            if crash is None:
                raise
            raise PgError(f"restore server: {crash}; {exc}", log=exc.log) from exc
        assert verified is not None
        self._database_findings(facts, notes)
        problems = dbbackup.compare(manifest, verified)
        for problem in problems:
            drill.finding(False, "restore-integrity", RESTORED_DB, problem)
        if problems:
            raise StepFailed(f"{len(problems)} integrity problem(s): {problems[0]}")
        rows = sum(t["rows"] for t in verified.tables.values())
        drill.finding(
            True,
            "restore-integrity",
            RESTORED_DB,
            f"{len(verified.tables)} tables ({rows} rows) and {len(verified.sequences)} sequences match the "
            "manifest's row counts, checksums and positions",
        )
        return (
            f"pg_restore -j{opts.jobs} into {RESTORED_DB}; {len(verified.tables)} tables, {rows} rows, "
            f"{len(verified.sequences)} sequences match the manifest"
        )

    def _database_findings(self, facts: dict[str, Any], notes: list[str]) -> None:
        """Database-level settings and ownership against the source's: advisory, since the data is right
        even when this host lacks the source's locale."""
        assert self.restored is not None
        differences = notes + integrity.compare_facts(facts, integrity.database_facts(self.restored))
        for difference in differences:
            self.drill.finding(False, "database-settings", RESTORED_DB, difference, warn=True)
        if not differences:
            self.drill.finding(
                True,
                "database-settings",
                RESTORED_DB,
                f"owner {facts['owner']}, encoding and locale, comment, privileges and "
                f"{sum(len(v or []) for v in facts.get('settings', {}).values())} database setting(s) as the "
                "source had them",
            )

    def artifacts_index(self) -> tuple[checks.Index, checks.Index, str]:
        if self.opts.stored is not None:
            raise StepSkipped("restoring a stored backup: the artifacts index is drilled by drill --stack")
        bucket = self.opts.bucket
        return (
            checks.read_listing_snapshot(self.s3, bucket, self.index_key),
            checks.listing(self.s3, bucket),
            f"s3://{bucket}/{self.index_key}",
        )

    @names_a_full_disk
    def replay(self) -> str:
        drill = self.drill
        if self.base is None or not drill.point_in_time:
            raise StepSkipped(
                "needs a physical base backup with WAL archiving: only the seeded demo source has one"
            )
        pitr = self.work.add_server("pitr")
        pitr.recover_to(self.base, self.work.root / "wal-archive", drill.point_in_time).start()
        pitr.wait_promoted()
        notes = {
            r[0] for r in sql(pitr.conn, f"select note from {HEARTBEAT_TABLE} where drill_id = '{drill.id}'")
        }
        newest = newest_heartbeat(query_of(pitr.conn))
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
        return f"restored to {drill.point_in_time}; newest transaction {drill.newest_transaction}"

    def restore_config(self) -> str:
        if self.opts.config_restore is None:
            raise StepSkipped("no stack outputs: config restore runs in drill --stack")
        return self.opts.config_restore(self.drill)

    def connect(self) -> steps.Restored:
        if self.restored is None:
            raise StepFailed("nothing was restored")
        restored = self.restored
        env = {
            "PGHOST": restored.host,
            "PGPORT": str(restored.port),
            "PGUSER": restored.user,
            "PGDATABASE": restored.dbname,
        }
        return steps.Restored(query_of(restored), env, RESTORED_DB)

    def clean_up(self) -> str:
        space = self.space
        if space is None:
            return "nothing to clean up: no work directory was created"
        if space.keep:
            return "kept for inspection (--keep): " + ", ".join(
                f"server {s.data} on port {s.port}" for s in space.servers
            )
        pids = [(s, s.pid()) for s in space.servers]
        space.close()
        running = _still_running(pids)
        if running:
            raise StepFailed(f"servers still running: {', '.join(str(s.port) for s in running)}")
        if space.root.exists():
            raise StepFailed(f"work directory left behind: {space.root}")
        return f"stopped {len(space.servers)} server(s) and removed their work directory"


def _still_running(pids: list[tuple[LocalServer, int | None]], wait: float = 10.0) -> list[LocalServer]:
    """The servers whose postmaster has not exited within ``wait`` seconds of ``pg_ctl stop``."""
    deadline = time.monotonic() + wait
    while True:
        running = [s for s, pid in pids if pid_alive(pid)]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.05)


def run_local(
    opts: LocalOptions,
    out: TextIO | None = None,
    on_report: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    for name in LOCAL_TOOLS:
        tool(name)  # every binary up front: a missing one is a one-line error before anything starts
    source = "--dsn database" if opts.dsn else "seeded local database"
    drill = Drill("local", source, opts.criticality, out=out or sys.stderr, log_dir=opts.report_dir)
    return steps.run(LocalPostgres(opts, drill), on_report)
