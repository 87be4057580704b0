"""Logical PostgreSQL backups with a manifest (runbook 1.1 pg_dump method, drill steps 2, 3 and 5).

``dump`` opens one REPEATABLE READ transaction, exports its snapshot, and runs ``pg_dump -Fc
--snapshot`` while it checksums every table in that same snapshot, so the manifest describes exactly the
dumped data (what the manifest holds and how a restore is compared: ``integrity``). The dump and its
manifest (SHA-256 of the file too) go to S3 under ``PREFIX/<database>/<date>/<time>``. ``select`` finds
the newest backup of a database, the newest at or before a time, or a named one; ``download`` refuses a
dump whose SHA-256 differs; ``restore`` recreates the database with the source's encoding and locale,
runs ``pg_restore -j`` and brings back the database-level settings ``pg_dump`` leaves out.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from backupctl.drill import integrity
from backupctl.drill.integrity import quote_ident
from backupctl.drill.pgtools import Conn, PgError, one_line, run, scalar, stop_children, tool
from backupctl.errors import BadInput

MANIFEST_SCHEMA = "maestro-backup/pg-dump-manifest@2"
HASH_CHUNK = 8 * 1024 * 1024
Progress = Callable[[str], None]
T = TypeVar("T")


def _quiet(_: str) -> None:
    return None


USER_TABLES = (
    "select schemaname || '.' || tablename from pg_tables "
    "where schemaname not in ('pg_catalog', 'information_schema') order by 1"
)


def qualified(table: str) -> str:
    """``schema.table`` (as the smoke suite names tables) as quoted SQL identifiers."""
    schema, _, name = table.partition(".")
    return f"{quote_ident(schema)}.{quote_ident(name)}"


class SnapshotHolder:
    """A psql session holding an exported REPEATABLE READ snapshot open until ``close``."""

    def __init__(self, conn: Conn) -> None:
        self.proc = subprocess.Popen(
            [tool("psql"), "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", *conn.args()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **conn.env},
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
            raise PgError(f"could not export a snapshot: {err.strip() or 'no answer'}", log=err)
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


PART = 16 * 1024 * 1024  # multipart part size while following pg_dump (S3: >= 5 MiB, <= 10,000 parts)


class PartUpload:
    """A multipart upload that follows a file while pg_dump writes it, so the upload overlaps the dump
    instead of following it. ``follow`` sends each part as soon as the file has grown past it, except
    the first: pg_dump -Fc rewrites its table of contents at the start of the file when it closes.
    ``finish`` reads the finished file once for its SHA-256, sends the first part, the tail and any part
    that changed after it was sent (compared by digest: correct whatever pg_dump rewrote), and completes.
    """

    def __init__(self, s3: Any, bucket: str, key: str, path: Path, extra: dict[str, Any]) -> None:
        self.s3, self.bucket, self.key, self.path = s3, bucket, key, path
        self.upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]
        self.sent: dict[int, tuple[str, str]] = {}  # part number -> (digest of what was sent, ETag)

    def _send(self, number: int, data: bytes) -> None:
        etag = self.s3.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
        )["ETag"]
        self.sent[number] = (hashlib.sha256(data).hexdigest(), etag)

    def follow(self, done: threading.Event) -> None:
        number = 2
        while True:
            finished = done.is_set()  # read before the size: a part seen complete after this is complete
            size = self.path.stat().st_size if self.path.exists() else 0
            while size >= number * PART + 1:  # part ``number`` and at least a byte after it are written
                with self.path.open("rb") as f:
                    f.seek((number - 1) * PART)
                    self._send(number, f.read(PART))
                number += 1
            if finished:
                return
            done.wait(0.2)

    def finish(self) -> str:
        digest = hashlib.sha256()
        number = 1
        with self.path.open("rb") as f:
            while data := f.read(PART):
                digest.update(data)
                if self.sent.get(number, ("",))[0] != hashlib.sha256(data).hexdigest():
                    self._send(number, data)
                number += 1
        for stale in [n for n in self.sent if n >= number]:  # the file ended before a part sent earlier
            del self.sent[stale]
        parts = [{"PartNumber": n, "ETag": self.sent[n][1]} for n in sorted(self.sent)]
        self.s3.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": parts}
        )
        return digest.hexdigest()

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # best effort: the real error is the one being raised
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


@dataclass
class Dump:
    path: Path
    manifest: dict[str, Any]


Follow = Callable[[str, str], PartUpload]  # (database, snapshot time) -> the upload to feed


def dump(
    conn: Conn, path: Path, *, jobs: int = 2, progress: Progress = _quiet, follow: Follow | None = None
) -> Dump:
    """pg_dump -Fc of ``conn``'s database plus the manifest of the same snapshot; with ``follow``, the
    dump is uploaded while it is written (``backup``)."""
    holder = SnapshotHolder(conn)
    database = scalar(conn, "select current_database()")
    errors: list[PgError] = []
    dumped = threading.Event()
    uploading = follow(database, holder.at) if follow else None

    def run_dump() -> None:
        try:
            argv = [tool("pg_dump"), "-Fc", "--snapshot", holder.snapshot, "-f", str(path), *conn.args()]
            run(argv, env=conn.env, what="pg_dump")
        except PgError as exc:
            errors.append(exc)
        finally:
            dumped.set()

    threads = [threading.Thread(target=run_dump, name="pg_dump")]
    if uploading is not None:
        threads.append(threading.Thread(target=_follow, args=(uploading, dumped, errors), name="upload"))
    try:
        progress("pg_dump -Fc and the checksum of every table in one snapshot")
        for thread in threads:
            thread.start()
        # pg_dump's compression keeps one core busy: the scans take the rest, one table at a time.
        tables = integrity.table_checksums(conn, jobs=max(1, jobs - 1), snapshot=holder.snapshot, workers=0)
        facts = integrity.database_facts(conn)
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
    except BaseException:
        stop_children()  # pg_dump too: an interruption or a failed scan must not leave it running
        dumped.set()
        if uploading is not None:
            uploading.abort()
        raise
    finally:
        holder.close()
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "database": database,
        "snapshotTime": holder.at,
        "createdAt": datetime.now(UTC).isoformat(),
        "format": "pg_dump -Fc",
        "serverVersion": scalar(conn, "show server_version"),
        "bytes": path.stat().st_size,
        "checksum": {"method": integrity.CHECKSUM_METHOD, "settings": dict(integrity.PINNED)},
        "tables": tables,
        "sequences": integrity.dump_sequences(str(path)),
        "databaseFacts": facts,
    }
    return Dump(path, manifest)


def _follow(uploading: PartUpload, dumped: threading.Event, errors: list[Any]) -> None:
    try:
        uploading.follow(dumped)
    except Exception as exc:  # an S3 error: reported once the dump is joined
        errors.append(exc)


def backup_keys(prefix: str, database: str, taken_at: str) -> tuple[str, str]:
    """Where a backup goes, named by its snapshot time (what ``--at`` selects by)."""
    moment = datetime.fromisoformat(taken_at)
    base = f"{prefix.strip('/')}/{database}/{moment:%Y-%m-%d}/{moment:%Y%m%dT%H%M%S%fZ}"
    return f"{base}.dump", f"{base}.manifest.json"


def backup(
    conn: Conn,
    path: Path,
    s3: Any,
    bucket: str,
    prefix: str,
    *,
    jobs: int = 2,
    kms_key_id: str | None = None,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """``dump`` to S3, uploaded while pg_dump writes, then its manifest (with the dump's SHA-256 and the
    keys it is stored under), which is returned."""
    extra: dict[str, Any] = (
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}
    )
    keys: list[str] = []
    uploads: list[PartUpload] = []

    def follow(database: str, taken_at: str) -> PartUpload:
        keys.extend(backup_keys(prefix, database, taken_at))
        uploads.append(PartUpload(s3, bucket, keys[0], path, extra))
        return uploads[0]

    result = dump(conn, path, jobs=jobs, progress=progress, follow=follow)
    try:
        sha256 = uploads[0].finish()
    except BaseException:
        uploads[0].abort()
        raise
    manifest = {**result.manifest, "sha256": sha256, "bucket": bucket, "key": keys[0], "manifestKey": keys[1]}
    s3.put_object(
        Bucket=bucket,
        Key=keys[1],
        Body=json.dumps(manifest, indent=1).encode(),
        ContentType="application/json",
        **extra,
    )
    return manifest


def check_bucket(s3: Any, bucket: str, what: str) -> None:
    """Before any work: the bucket exists and answers (a missing bucket, a closed endpoint or denied
    access is bad input, not a failure found after a whole dump)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from backupctl.live.aws import error_code  # noqa: PLC0415

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = error_code(exc) or "error"
        found = {"404": "no such bucket", "NoSuchBucket": "no such bucket", "403": "access denied"}
        raise BadInput(f"{what} {bucket}", "an S3 bucket you can write", found.get(code, code)) from None
    except BotoCoreError as exc:
        raise BadInput(f"{what} {bucket}", "a reachable S3 endpoint", one_line(str(exc))) from None


MANIFEST_KEY = re.compile(r"/(\d{8}T\d{12})Z\.manifest\.json$")


@dataclass
class Choice:
    """Which backup to restore: the newest, the newest at or before ``at``, or the one named ``key``."""

    key: str | None = None
    at: datetime | None = None


def _taken(key: str) -> datetime | None:
    found = MANIFEST_KEY.search(key)
    return datetime.strptime(found.group(1), "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC) if found else None


def manifest_keys(s3: Any, bucket: str, prefix: str, database: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{prefix.strip('/')}/{database}/"
    ):
        keys += [o["Key"] for o in page.get("Contents", []) if MANIFEST_KEY.search(o["Key"])]
    return sorted(keys)


def read_manifest(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    """A stored manifest; a ``ManifestRefused`` when it is not one this version can verify against."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        manifest = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ManifestRefused(f"s3://{bucket}/{key} is not a JSON manifest") from None
    schema = manifest.get("schema") if isinstance(manifest, dict) else None
    if schema != MANIFEST_SCHEMA:
        raise ManifestRefused(
            f"s3://{bucket}/{key} has manifest schema {schema!r}; this version verifies "
            f"{MANIFEST_SCHEMA} (checksums that no OID or session setting changes): take a new backup"
        )
    return manifest


def select(s3: Any, bucket: str, prefix: str, database: str, choice: Choice) -> tuple[str, int]:
    """The manifest key ``choice`` names, and how many backups of ``database`` there are to choose from;
    ``ManifestRefused`` when there is none (an expected state, said in one sentence)."""
    keys = manifest_keys(s3, bucket, prefix, database)
    where = f"s3://{bucket}/{prefix.strip('/')}/{database}/"
    if choice.key:
        wanted = choice.key if choice.key.endswith(".manifest.json") else choice.key.removesuffix(".dump")
        wanted = wanted if wanted.endswith(".manifest.json") else f"{wanted}.manifest.json"
        if wanted not in keys:
            raise ManifestRefused(f"no backup {choice.key} among the {len(keys)} under {where}")
        return wanted, len(keys)
    if choice.at:
        return _at_or_before(keys, choice.at, where), len(keys)
    if not keys:
        raise ManifestRefused(f"no backup under {where}")
    return keys[-1], len(keys)


def _at_or_before(keys: list[str], at: datetime, where: str) -> str:
    """The newest backup whose snapshot (the time its key names) is at or before ``at``."""
    before = [k for k in keys if (taken := _taken(k)) is not None and taken <= at]
    if not before:
        raise ManifestRefused(f"no backup under {where} taken at or before {at.isoformat()}")
    return before[-1]


class DumpRefused(Exception):
    """The downloaded dump does not match its manifest: it is never restored."""


class ManifestRefused(DumpRefused):
    """No manifest to restore from, or one this version cannot verify against."""


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
    facts: dict[str, Any],
    *,
    jobs: int = 2,
    alongside: Callable[[Conn], T] | None = None,
) -> tuple[Conn, T | None, list[str]]:
    """pg_restore -j into a new database ``dbname`` on ``conn``'s server, then the database facts;
    returns the connection, ``alongside``'s result and notes on anything not brought back as it was.

    With ``alongside`` (the integrity check), the data is restored first and the check runs while
    pg_restore builds indexes and constraints (post-data), so verification overlaps the slowest part."""
    notes = integrity.create_database(conn, dbname, facts)
    target = conn.with_db(dbname)
    base = [tool("pg_restore"), "-j", str(jobs), "--no-owner", "--exit-on-error", *target.args()]
    result: T | None = None
    if alongside is None:
        run([*base, str(path)], what="pg_restore")
    else:
        run([*base, "--section=pre-data", "--section=data", str(path)], what="pg_restore")
        with ThreadPoolExecutor(max_workers=1) as pool:
            post = pool.submit(run, [*base, "--section=post-data", str(path)], what="pg_restore post-data")
            try:
                result = alongside(target)
            except BaseException:
                stop_children()  # post-data too; its error is a consequence, not the reason
                with contextlib.suppress(Exception):
                    post.result()
                raise
            post.result()
    integrity.restore_database_facts(conn, dbname, facts)
    return target, result, notes


@dataclass
class Verified:
    tables: dict[str, dict[str, Any]]
    sequences: dict[str, dict[str, Any]]


def verify(conn: Conn, manifest: dict[str, Any], *, jobs: int = 2) -> Verified:
    """The restore's tables and sequences, measured the way the manifest measured the source."""
    return Verified(
        integrity.table_checksums(conn, jobs=jobs),
        integrity.restored_sequences(conn, list(manifest.get("sequences", {}))),
    )


def compare(manifest: dict[str, Any], verified: Verified) -> list[str]:
    """Data problems, one sentence each naming the table or sequence; empty when the restore matches."""
    return integrity.compare_tables(manifest["tables"], verified.tables) + integrity.compare_sequences(
        manifest.get("sequences", {}), verified.sequences
    )
