"""`backupctl backup db`: a logical PostgreSQL backup to S3 with a manifest (runbook 1.1 pg_dump method)."""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import UTC, datetime
from typing import Any

from backupctl.cli.common import live_options
from backupctl.findings import render_json
from backupctl.live import audit


def cmd_backup_db(args: argparse.Namespace) -> int:
    from backupctl.drill import dbbackup  # noqa: PLC0415
    from backupctl.drill.pgtools import Conn, make_workdir  # noqa: PLC0415
    from backupctl.drill.sandbox import LOCAL_REGION  # noqa: PLC0415
    from backupctl.live.session import session_for  # noqa: PLC0415

    started = datetime.now(UTC)
    clients = session_for(args, args.region or LOCAL_REGION)
    s3 = clients.client("s3")
    work = make_workdir("maestro-backup-")
    try:
        print(f"pg_dump -Fc of the --dsn database to s3://{args.bucket}/{args.prefix} ...", file=sys.stderr)
        result = dbbackup.dump(
            Conn(dsn=args.dsn),
            work / "backup.dump",
            jobs=args.jobs,
            progress=lambda m: print(f"  {m}", file=sys.stderr),
        )
        manifest = dbbackup.upload(s3, args.bucket, args.prefix, result, kms_key_id=args.kms_key)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {k: manifest[k] for k in ("bucket", "key", "manifestKey", "sha256", "bytes", "snapshotTime")}
    summary["tables"] = {t: v["rows"] for t, v in manifest["tables"].items()}
    if args.json:
        render_json(summary, sys.stdout)
    else:
        print(
            f"s3://{manifest['bucket']}/{manifest['key']}: {manifest['bytes']} bytes, sha256 "
            f"{manifest['sha256'][:16]}..., {len(manifest['tables'])} tables, "
            f"snapshot {manifest['snapshotTime']}"
        )
    audit.emit(
        audit.record(
            "backup db",
            stack=None,
            result="pass",
            who=audit.actor(clients),
            started=started,
            key=manifest["key"],
            sha256=manifest["sha256"],
        ),
        args.audit_log,
    )
    return 0


def register(sub: Any) -> None:
    backup = sub.add_parser("backup", help="logical database backups (runbook 1.1 pg_dump method)")
    actions = backup.add_subparsers(dest="backup_command", required=True, metavar="ACTION")
    p = actions.add_parser(
        "db",
        parents=[live_options()],
        help="pg_dump -Fc a database to S3 with a manifest",
        description="Dump a self-managed PostgreSQL database (pg_dump -Fc) to S3 with a manifest of "
        "per-table row counts and checksums taken in the same snapshot, and the dump's SHA-256.",
    )
    p.add_argument(
        "--dsn", required=True, help="libpq connection string or URI (password via PGPASSWORD/.pgpass)"
    )
    p.add_argument("--bucket", required=True, help="destination S3 bucket")
    p.add_argument("--prefix", default="backups/postgres", help="key prefix (default: %(default)s)")
    p.add_argument("--kms-key", help="SSE-KMS key for the objects")
    p.add_argument("--jobs", type=int, default=2, help="checksum workers (default: %(default)s)")
    p.set_defaults(handler=cmd_backup_db)
