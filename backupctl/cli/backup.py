"""`backupctl backup db`: a logical PostgreSQL backup to S3 with a manifest (runbook 1.1 pg_dump method).

Everything it needs is checked before the dump starts: the job count, the audit log path, that the
database answers and that the bucket exists; every run leaves its audit record (runbook 4), refusals,
failures and interruptions included.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import Any

from backupctl.cli.common import MAX_JOBS, live_options
from backupctl.errors import BadInput
from backupctl.files import check_writable
from backupctl.findings import render_json
from backupctl.live import audit


def cmd_backup_db(args: argparse.Namespace) -> int:
    from backupctl.drill import dbbackup  # noqa: PLC0415
    from backupctl.drill.pgtools import Conn, check_reachable, make_workdir, tool  # noqa: PLC0415
    from backupctl.drill.sandbox import LOCAL_REGION  # noqa: PLC0415
    from backupctl.live.aws import BOUNDED  # noqa: PLC0415
    from backupctl.live.session import session_for  # noqa: PLC0415

    if args.audit_log:
        check_writable(args.audit_log, "--audit-log")  # where a refusal would be recorded: checked first
    run = audit.Run("backup db", args.audit_log)
    with audit.recorded(run):
        if not 1 <= args.jobs <= MAX_JOBS:
            raise BadInput("--jobs", f"1 to {MAX_JOBS}", args.jobs)
        for name in ("psql", "pg_dump", "pg_restore"):
            tool(name)
        source = Conn(dsn=args.dsn)
        database = check_reachable(source)
        clients = session_for(args, args.region or LOCAL_REGION)
        clients.config = BOUNDED
        s3 = clients.client("s3")
        dbbackup.check_bucket(s3, args.bucket, "--bucket")
        run.details["database"] = database
        work = make_workdir("maestro-backup-")
        try:
            print(f"pg_dump -Fc of {database} to s3://{args.bucket}/{args.prefix} ...", file=sys.stderr)
            manifest = dbbackup.backup(
                source,
                work / "backup.dump",
                s3,
                args.bucket,
                args.prefix,
                jobs=args.jobs,
                kms_key_id=args.kms_key,
                progress=lambda m: print(f"  {m}", file=sys.stderr),
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    _print(manifest, args.json)
    audit.emit(
        audit.record(
            "backup db",
            stack=None,
            result="pass",
            who=audit.actor(clients),
            started=run.started,
            database=database,
            key=manifest["key"],
            sha256=manifest["sha256"],
        ),
        args.audit_log,
    )
    return 0


def _print(manifest: dict[str, Any], as_json: bool) -> None:
    summary = {k: manifest[k] for k in ("bucket", "key", "manifestKey", "sha256", "bytes", "snapshotTime")}
    summary["tables"] = {t: v["rows"] for t, v in manifest["tables"].items()}
    summary["sequences"] = len(manifest.get("sequences", {}))
    if as_json:
        render_json(summary, sys.stdout)
        return
    print(
        f"s3://{manifest['bucket']}/{manifest['key']}: {manifest['bytes']} bytes, sha256 "
        f"{manifest['sha256'][:16]}..., {len(manifest['tables'])} tables, "
        f"{summary['sequences']} sequences, snapshot {manifest['snapshotTime']}"
    )


def register(sub: Any) -> None:
    backup = sub.add_parser(
        "backup",
        help="logical database backups (runbook 1.1 pg_dump method)",
        description="Logical backups of self-managed PostgreSQL databases to S3 (runbook 1.1).",
    )
    actions = backup.add_subparsers(dest="backup_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "db",
        parents=[live_options(stack=False)],
        help="pg_dump -Fc a database to S3 with a manifest",
        description="Dump a self-managed PostgreSQL database (pg_dump -Fc) to S3 with a manifest of "
        "per-table row counts and checksums taken in the same snapshot, the sequences' positions, the "
        "database-level settings, and the dump's SHA-256. `drill --dsn DB --from-bucket "
        "s3://BUCKET/PREFIX` restores and verifies these backups.",
    )
    p.add_argument(
        "--dsn", required=True, help="libpq connection string or URI (password via PGPASSWORD/.pgpass)"
    )
    p.add_argument("--bucket", required=True, help="destination S3 bucket")
    p.add_argument("--prefix", default="backups/postgres", help="key prefix (default: %(default)s)")
    p.add_argument("--kms-key", help="SSE-KMS key for the objects")
    p.add_argument("--jobs", type=int, default=2, help="dump and checksum workers (default: %(default)s)")
    p.set_defaults(handler=cmd_backup_db)
