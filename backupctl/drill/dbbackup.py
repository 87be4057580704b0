"""Logical PostgreSQL backups with a manifest (runbook 1.1 pg_dump method, drill steps 2, 3 and 5).

``backup`` opens one REPEATABLE READ transaction, exports its snapshot, and runs ``pg_dump -Fc
--snapshot`` while it counts and checksums every table in that same snapshot, so the manifest describes
exactly the dumped data. The dump and its manifest (SHA-256 of the file, per-table rows and checksums)
go to S3. ``restore`` downloads, refuses a dump whose SHA-256 differs, runs ``pg_restore -j`` into a new
database, and ``compare`` checks the restored tables against the manifest.
The table checksum is order-independent: the sum of a per-row hash over the table (see CHECKSUMS).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from boto3.s3.transfer import TransferConfig

from backupctl.drill.pgtools import Conn, PgError, run, scalar, sql, tool

MANIFEST_SCHEMA = "maestro-backup/pg-dump-manifest@1"
HASH_CHUNK = 8 * 1024 * 1024
# Parts of 64 MiB: few enough that assembling them is cheap, small enough to retry one on a bad link.
TRANSFER = TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=64 * 1024 * 1024)
Progress = Callable[[str], None]
T = TypeVar("T")


def _quiet(_: str) -> None:
    return None


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


USER_TABLES = (
    "select schemaname || '.' || tablename from pg_tables "
    "where schemaname not in ('pg_catalog', 'information_schema') order by 1"
)


def qualified(table: str) -> str:
    """``schema.table`` as quoted SQL identifiers."""
    schema, _, name = table.partition(".")
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def list_tables(conn: Conn) -> list[str]:
    return [r[0] for r in sql(conn, USER_TABLES)]


# How a table's rows are hashed. "record" hashes each column with its type's hash function (no text
# conversion, about a third cheaper); "text" hashes the row's text form, for tables with a column type
# that has no hash function (point, json, ...). The manifest records the method per table.
CHECKSUMS = {"record": "hash_record_extended(t, 0)", "text": "hashtext(t::text)::bigint"}


def _stats_query(table: str, method: str) -> str:
    return f"select count(*), coalesce(sum({CHECKSUMS[method]}), 0) from {qualified(table)} t"


def table_stats(
    conn: Conn,
    tables: Sequence[str],
    *,
    jobs: int = 2,
    snapshot: str | None = None,
    methods: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Rows and checksum per table, ``jobs`` tables at a time, optionally inside an exported snapshot.
    ``methods`` (from a manifest) fixes each table's checksum method; otherwise "record" is tried first."""

    def query(table: str, method: str) -> list[list[str]]:
        # JIT compilation costs more than it saves on one scan; beside pg_dump (a snapshot is given) the
        # scan stays on one core so the dump's compression keeps the other.
        statement = f"set jit = off; {_stats_query(table, method)}"
        if snapshot:
            statement = (
                "begin isolation level repeatable read; "
                f"set transaction snapshot {quote_literal(snapshot)}; "
                f"set local max_parallel_workers_per_gather = 0; {statement}; commit"
            )
        return sql(conn, statement)

    def one(table: str) -> tuple[str, dict[str, Any]]:
        method = (methods or {}).get(table, "record")
        try:
            rows = query(table, method)
        except PgError as exc:
            if methods is not None or "hash function" not in str(exc):
                raise
            method = "text"
            rows = query(table, method)
        return table, {"rows": int(rows[0][0]), "checksum": rows[0][1], "method": method}

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return dict(pool.map(one, tables))


class SnapshotHolder:
    """A psql session holding an exported REPEATABLE READ snapshot open until ``close``."""

    def __init__(self, conn: Conn) -> None:
        self.proc = subprocess.Popen(
            [tool("psql"), "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", *conn.args()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(
            "begin isolation level repeatable read;\n"
            "select pg_export_snapshot(), to_char(now() at time zone 'UTC', "
            '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\');\n'
        )
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        if "\t" not in line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.close()
            raise PgError(f"could not export a snapshot: {err.strip() or 'no answer'}")
        self.snapshot, self.at = line.split("\t", 1)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("commit;\n\\q\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Dump:
    path: Path
    manifest: dict[str, Any]


def dump(conn: Conn, path: Path, *, jobs: int = 2, progress: Progress = _quiet) -> Dump:
    """pg_dump -Fc of ``conn``'s database plus the manifest of the same snapshot."""
    holder = SnapshotHolder(conn)
    try:
        tables = list_tables(conn)
        errors: list[str] = []

        def run_dump() -> None:
            try:
                run(
                    [tool("pg_dump"), "-Fc", "--snapshot", holder.snapshot, "-f", str(path), *conn.args()],
                    what="pg_dump",
                )
            except PgError as exc:
                errors.append(str(exc))

        progress(f"pg_dump -Fc of {len(tables)} table(s) and their checksums in one snapshot")
        worker = threading.Thread(target=run_dump, name="pg_dump")
        worker.start()
        stats = table_stats(conn, tables, jobs=max(1, jobs - 1), snapshot=holder.snapshot)
        worker.join()
        if errors:
            raise PgError(errors[0])
    finally:
        holder.close()
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "database": conn.dbname if not conn.dsn else scalar(conn, "select current_database()"),
        "snapshotTime": holder.at,
        "createdAt": datetime.now(UTC).isoformat(),
        "format": "pg_dump -Fc",
        "serverVersion": scalar(conn, "show server_version"),
        "bytes": path.stat().st_size,
        "tables": stats,
    }
    return Dump(path, manifest)


def backup_keys(prefix: str, database: str, created_at: str) -> tuple[str, str]:
    moment = datetime.fromisoformat(created_at)
    base = f"{prefix.strip('/')}/{database}/{moment:%Y-%m-%d}/{moment:%Y%m%dT%H%M%S%fZ}"
    return f"{base}.dump", f"{base}.manifest.json"


def upload(
    s3: Any, bucket: str, prefix: str, result: Dump, *, kms_key_id: str | None = None
) -> dict[str, Any]:
    """Stores the dump and its manifest; returns the manifest with the keys it was stored under."""
    dump_key, manifest_key = backup_keys(prefix, result.manifest["database"], result.manifest["createdAt"])
    extra: dict[str, Any] = (
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}
    )
    # The SHA-256 is computed while the upload reads the same file: one pass of wall time, not two.
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(sha256_file, result.path)
        s3.upload_file(str(result.path), bucket, dump_key, ExtraArgs=extra or None, Config=TRANSFER)
        sha256 = digest.result()
    manifest = {
        **result.manifest,
        "sha256": sha256,
        "bucket": bucket,
        "key": dump_key,
        "manifestKey": manifest_key,
    }
    s3.put_object(
        Bucket=bucket,
        Key=manifest_key,
        Body=json.dumps(manifest, indent=1).encode(),
        ContentType="application/json",
        **extra,
    )
    return manifest


def newest_manifest(s3: Any, bucket: str, prefix: str, database: str) -> dict[str, Any] | None:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix.strip('/')}/{database}/"
    ):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".manifest.json")]
    if not keys:
        return None
    return json.loads(s3.get_object(Bucket=bucket, Key=max(keys))["Body"].read())


class DumpRefused(Exception):
    """The downloaded dump does not match its manifest: it is never restored."""


def download(s3: Any, manifest: dict[str, Any], path: Path) -> Path:
    """Streams the dump to ``path`` hashing as it goes; refuses it when the SHA-256 differs."""
    hasher = hashlib.sha256()
    body = s3.get_object(Bucket=manifest["bucket"], Key=manifest["key"])["Body"]
    with path.open("wb") as out:
        for chunk in body.iter_chunks(HASH_CHUNK):
            hasher.update(chunk)
            out.write(chunk)
    digest = hasher.hexdigest()
    if digest != manifest["sha256"]:
        raise DumpRefused(
            f"s3://{manifest['bucket']}/{manifest['key']}: SHA-256 {digest[:12]}... differs from the "
            f"manifest's {manifest['sha256'][:12]}...; the dump is corrupt or was altered"
        )
    return path


def restore(
    conn: Conn,
    dbname: str,
    path: Path,
    *,
    jobs: int = 2,
    alongside: Callable[[Conn], T] | None = None,
) -> tuple[Conn, T | None]:
    """pg_restore -j into a new database ``dbname`` on ``conn``'s server.

    With ``alongside`` (the integrity check), the data is restored first and the check runs while
    pg_restore builds indexes and constraints (post-data), so verification overlaps the slowest part."""
    sql(conn, f"create database {quote_ident(dbname)}")
    target = conn.with_db(dbname)
    base = [tool("pg_restore"), "-j", str(jobs), "--no-owner", "--exit-on-error", *target.args()]
    if alongside is None:
        run([*base, str(path)], what="pg_restore")
        return target, None
    run([*base, "--section=pre-data", "--section=data", str(path)], what="pg_restore")
    with ThreadPoolExecutor(max_workers=1) as pool:
        post = pool.submit(run, [*base, "--section=post-data", str(path)], what="pg_restore post-data")
        try:
            result = alongside(target)
        finally:
            post.result()
    return target, result


def restored_stats(conn: Conn, manifest: dict[str, Any], *, jobs: int = 2) -> dict[str, dict[str, Any]]:
    """The restore's tables, each checksummed with the method the manifest used for it."""
    methods = {t: v.get("method", "text") for t, v in manifest["tables"].items()}
    tables = list_tables(conn)
    return table_stats(conn, tables, jobs=jobs, methods={t: methods.get(t, "record") for t in tables})


def compare(manifest: dict[str, Any], restored: dict[str, dict[str, Any]]) -> list[str]:
    """Problems, one sentence each; empty when every table matches the manifest."""
    problems = []
    for table, want in sorted(manifest["tables"].items()):
        got = restored.get(table)
        if got is None:
            problems.append(f"table {table} is missing from the restore (manifest: {want['rows']} rows)")
        elif got["rows"] != want["rows"]:
            problems.append(f"table {table} has {got['rows']} rows restored, manifest {want['rows']}")
        elif str(got["checksum"]) != str(want["checksum"]):
            problems.append(f"table {table} checksum differs from the manifest ({want['rows']} rows)")
    problems += [
        f"table {t} is in the restore but not in the manifest"
        for t in sorted(set(restored) - set(manifest["tables"]))
    ]
    return problems
