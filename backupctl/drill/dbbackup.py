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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from boto3.s3.transfer import TransferConfig

from backupctl.drill import integrity
from backupctl.drill.integrity import quote_ident, quote_literal
from backupctl.drill.pgtools import Conn, PgError, one_line, run, scalar, sql, stop_children, tool
from backupctl.errors import BadInput

MANIFEST_SCHEMA = "maestro-backup/pg-dump-manifest@2"
HASH_CHUNK = 8 * 1024 * 1024
# Parts of 64 MiB: few enough that assembling them is cheap, small enough to retry one on a bad link.
TRANSFER = TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=64 * 1024 * 1024)
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
    errors: list[PgError] = []

    def run_dump() -> None:
        try:
            run(
                [tool("pg_dump"), "-Fc", "--snapshot", holder.snapshot, "-f", str(path), *conn.args()],
                env=conn.env,
                what="pg_dump",
            )
        except PgError as exc:
            errors.append(exc)

    try:
        progress("pg_dump -Fc and the checksum of every table in one snapshot")
        worker = threading.Thread(target=run_dump, name="pg_dump")
        worker.start()
        # pg_dump's compression keeps one core busy: the scans take the rest, one table at a time.
        tables = integrity.table_checksums(conn, jobs=max(1, jobs - 1), snapshot=holder.snapshot, workers=0)
        facts = integrity.database_facts(conn)
        worker.join()
    except BaseException:
        stop_children()  # pg_dump too: an interruption or a failed scan must not leave it running
        raise
    finally:
        holder.close()
    if errors:
        raise errors[0]
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "database": scalar(conn, "select current_database()"),
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


def check_bucket(s3: Any, bucket: str, what: str) -> None:
    """Before any work: the bucket exists and answers (a missing bucket, a closed endpoint or denied
    access is bad input, not a failure found after a whole dump)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
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
    candidates: int = field(default=0, compare=False)


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
        return _at_or_before(s3, bucket, keys, choice.at, where), len(keys)
    if not keys:
        raise ManifestRefused(f"no backup under {where}")
    return keys[-1], len(keys)


def _at_or_before(s3: Any, bucket: str, keys: list[str], at: datetime, where: str) -> str:
    """The newest backup whose snapshot is at or before ``at``. A key names when the dump finished, so a
    backup finished within a day after ``at`` may still hold a snapshot before it: their manifests say."""
    finished = [(k, t) for k in keys if (t := _taken(k)) is not None]
    for key, _ in reversed([(k, t) for k, t in finished if at < t <= at + timedelta(days=1)]):
        with contextlib.suppress(ManifestRefused):
            if datetime.fromisoformat(read_manifest(s3, bucket, key)["snapshotTime"]) <= at:
                return key
    before = [k for k, t in finished if t <= at]
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


def create_database(conn: Conn, dbname: str, facts: dict[str, Any]) -> list[str]:
    """The restore's database with the source's encoding and locale (what ``pg_dump --create`` would
    bring); with the server's defaults, and a note saying so, when this server lacks that locale."""
    options = [f"template template0 encoding {quote_literal(facts['encoding'])}"]
    if facts.get("localeProvider") == "icu" and facts.get("icuLocale"):
        options.append(f"locale_provider icu icu_locale {quote_literal(facts['icuLocale'])}")
    options.append(f"lc_collate {quote_literal(facts['collate'])} lc_ctype {quote_literal(facts['ctype'])}")
    try:
        sql(conn, f"create database {quote_ident(dbname)} {' '.join(options)}")
        return []
    except PgError as exc:
        sql(conn, f"create database {quote_ident(dbname)}")
        return [f"database created with this server's default locale: {exc}"]


# Settings whose value is a list of names (pg_dump's GUC_LIST_QUOTE): each element is an identifier.
LIST_SETTINGS = ("search_path", "temp_tablespaces", "local_preload_libraries", "session_preload_libraries")


def _setting(entry: str) -> str:
    name, _, value = entry.partition("=")
    if name.lower() in LIST_SETTINGS:
        elements = [e.strip() for e in re.findall(r'(?:"(?:[^"]|"")*"|[^,])+', value)]
        rendered = ", ".join(
            quote_ident(e[1:-1].replace('""', '"') if e.startswith('"') else e) for e in elements
        )
        return f"{quote_ident(name)} = {rendered or quote_literal('')}"
    return f"{quote_ident(name)} = {quote_literal(value)}"


def restore_database_facts(conn: Conn, dbname: str, facts: dict[str, Any]) -> None:
    """Owner, comment, connection limit, privileges and ``ALTER DATABASE ... SET`` (per role too), as the
    source had them. Roles are cluster-wide and not in any dump: missing ones are created NOLOGIN here,
    on the drill's own throwaway server."""
    db = quote_ident(dbname)
    roles = {facts["owner"], *(r for r in facts.get("settings", {}) if r != "*")}
    roles |= {p[0] for p in facts.get("privileges", []) if p[0] != "PUBLIC"}
    statements = [
        f"do $$ begin if not exists (select from pg_roles where rolname = {quote_literal(r)}) then "
        f"create role {quote_ident(r)} nologin; end if; end $$"
        for r in sorted(roles)
    ]
    statements += [
        f"alter database {db} owner to {quote_ident(facts['owner'])}",
        f"alter database {db} connection limit {int(facts.get('connectionLimit', -1))}",
        f"comment on database {db} is "
        + (quote_literal(facts["comment"]) if facts.get("comment") is not None else "null"),
        f"revoke all on database {db} from public",
    ]
    for grantee, privilege, grantable in facts.get("privileges", []):
        who = "public" if grantee == "PUBLIC" else quote_ident(grantee)
        statements.append(
            f"grant {privilege} on database {db} to {who}" + (" with grant option" if grantable else "")
        )
    for role, entries in sorted(facts.get("settings", {}).items()):
        scope = "" if role == "*" else f" in database {db}"
        target = f"alter database {db}" if role == "*" else f"alter role {quote_ident(role)}"
        statements += [f"{target}{scope} set {_setting(e)}" for e in entries or []]
    sql(conn, "; ".join(statements))


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
    notes = create_database(conn, dbname, facts)
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
    restore_database_facts(conn, dbname, facts)
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
