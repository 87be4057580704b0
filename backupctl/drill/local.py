"""The local drill target (runbook 2.1 on throwaway PostgreSQL): ``drill --local``.

Step 1 starts a source server (seeded, WAL archived) or connects to ``--dsn``, and an empty restore
server, all on 127.0.0.1 in one work dir; step 2 takes ``pg_dump -Fc`` with a same-snapshot manifest to S3
(plus ``pg_basebackup`` with archived WAL); step 3 downloads it, checks its SHA-256, ``pg_restore -j``
and compares every table with the manifest; step 5 replays WAL to a target time into a third server;
step 10 stops every server and removes the work dir.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from backupctl.drill import artifacts, dbbackup, steps
from backupctl.drill.checks import HEARTBEAT_TABLE, Query, SmokeSuite, newest_heartbeat, write_heartbeat
from backupctl.drill.pgtools import (
    Conn,
    LocalServer,
    Workspace,
    base_backup,
    chown_tree,
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
class LocalOptions:
    clients: Any  # backupctl.live.aws.Clients for S3 (moto server or real)
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

    def isolate(self) -> str:
        space = self.space = Workspace.create(base=self.opts.workdir, keep=self.opts.keep)
        if self.opts.dsn:
            self.source = Conn(dsn=self.opts.dsn)
            scalar(self.source, "select 1")
        else:
            archive = space.root / "wal-archive"
            archive.mkdir()
            chown_tree(archive)
            server = space.add_server("source").init(archive_dir=archive).start()
            self.source = server.conn
            self.drill.log(f"seeding {self.opts.orders} orders into the source on port {server.port}")
            seed(self.source, self.opts.orders)
        self.restore_server = space.add_server("restore").init().start()
        return (
            f"restores go to throwaway servers on 127.0.0.1 under {space.root} (restore port "
            f"{self.restore_server.port}); the source is only read and given heartbeat rows"
        )

    def select_backup(self) -> str:
        opts, drill = self.opts, self.drill
        query = query_of(self.source)
        write_heartbeat(query, drill.id, "before-backup")
        if not opts.dsn:
            self.base = base_backup(self.source, self.work.root / "base")
        result = dbbackup.dump(self.source, self.work.root / "drill.dump", jobs=opts.jobs, progress=drill.log)
        dbbackup.upload(self.s3, opts.bucket, opts.prefix, result, kms_key_id=opts.kms_key_id)
        artifacts.write_listing_snapshot(
            self.s3, opts.bucket, self.index_key, artifacts.listing(self.s3, opts.bucket)
        )
        chosen = dbbackup.newest_manifest(self.s3, opts.bucket, opts.prefix, result.manifest["database"])
        if chosen is None:
            raise StepFailed(f"no dump manifest under s3://{opts.bucket}/{opts.prefix}")
        self.manifest = chosen
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
                if self.base
                else "no physical backup: --dsn sources are restored logically"
            ),
        }
        if self.base is not None:
            self._mark_target(query)
        return str(drill.backup["description"])

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

    def restore(self) -> str:
        opts, drill = self.opts, self.drill
        if self.restore_server is None:
            raise StepFailed("no restore server")
        if opts.after_backup:
            opts.after_backup(self.s3, self.manifest)
        path = dbbackup.download(self.s3, self.manifest, self.work.root / "downloaded.dump")
        manifest = self.manifest

        def verify(conn: Conn) -> dict[str, dict[str, Any]]:
            if opts.after_restore:
                opts.after_restore(conn)
            return dbbackup.restored_stats(conn, manifest, jobs=opts.jobs)

        self.restored, verified = dbbackup.restore(
            self.restore_server.conn, RESTORED_DB, path, jobs=opts.jobs, alongside=verify
        )
        stats = verified or {}
        problems = dbbackup.compare(manifest, stats)
        for problem in problems:
            drill.finding(False, "restore-integrity", RESTORED_DB, problem)
        if problems:
            raise StepFailed(f"{len(problems)} integrity problem(s): {problems[0]}")
        drill.finding(
            True,
            "restore-integrity",
            RESTORED_DB,
            f"{len(stats)} tables match the manifest's row counts and checksums",
        )
        return (
            f"pg_restore -j{opts.jobs} into {RESTORED_DB}; {len(stats)} tables, "
            f"{sum(t['rows'] for t in stats.values())} rows match the manifest"
        )

    def artifacts_index(self) -> tuple[artifacts.Index, artifacts.Index, str]:
        bucket = self.opts.bucket
        return (
            artifacts.read_listing_snapshot(self.s3, bucket, self.index_key),
            artifacts.listing(self.s3, bucket),
            f"s3://{bucket}/{self.index_key}",
        )

    def replay(self) -> str:
        drill = self.drill
        if self.base is None or not drill.point_in_time:
            raise StepSkipped(
                "needs a physical base backup with WAL archiving: not available for --dsn sources"
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


def _alive(pid: int | None) -> bool:
    """A process that still runs (a zombie waiting for its parent to reap it does not)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _still_running(pids: list[tuple[LocalServer, int | None]], wait: float = 10.0) -> list[LocalServer]:
    """The servers whose postmaster has not exited within ``wait`` seconds of ``pg_ctl stop``."""
    deadline = time.monotonic() + wait
    while True:
        running = [s for s, pid in pids if _alive(pid)]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.05)


def run_local(opts: LocalOptions, out: TextIO | None = None) -> dict[str, Any]:
    for name in LOCAL_TOOLS:
        tool(name)  # every binary up front: a missing one is a one-line error before anything starts
    source = "--dsn database" if opts.dsn else "seeded local database"
    drill = Drill("local", source, opts.criticality, out=out or sys.stderr)
    return steps.run(LocalPostgres(opts, drill))
