"""Bad input to `drill` and `backup db` (issue 12): a table of operator mistakes, each exit 2 with one
line on stderr naming what, where, what was expected and what was found, no traceback, nothing written or
changed (but the audit record of the refused run), and no work started: no server, no work directory, no
report, no object in the bucket.

Rows: (argv, expected words). Placeholders are filled per run: {dir} an existing directory, {file} an
existing file, {latin1} a file that is not UTF-8, {closed} a port nothing listens on, {pg} a port a
PostgreSQL server listens on, {s3} the embedded S3 endpoint, {bucket} a bucket in it, {ro} a read-only
mount, {shut} a directory the postgres user cannot reach.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from backupctl.cli import main
from backupctl.drill.pgtools import add_server
from backupctl.drill.sandbox import LOCAL_BUCKET, LOCAL_EVIDENCE_BUCKET, start_embedded_s3
from tests.drill_support import HAVE_PG, postgres_processes, reachable_dir

pytestmark = pytest.mark.skipif(not HAVE_PG, reason="PostgreSQL binaries are not installed")

DSN_CLOSED = "host=127.0.0.1 port={closed} user=postgres dbname=postgres"
DSN_OK = "host=127.0.0.1 port={pg} user=postgres dbname=postgres"
S3 = ["--endpoint-url", "{s3}", "--region", "us-east-1"]

ROWS: list[tuple[list[str], str]] = [
    # numbers out of range
    (["drill", "--orders", "3"], "--orders: expected 10 to 100000000, found 3"),
    (["drill", "--jobs", "0"], "--jobs: expected 1 to 64, found 0"),
    (["drill", "--jobs", "-3"], "--jobs: expected 1 to 64, found -3"),
    (["drill", "--lock-days", "1"], "--lock-days: expected 90 to 36500 (runbook 1.2 keeps evidence 90 days"),
    (["drill", "--lock-days", "40000"], "--lock-days: expected 90 to 36500"),
    (
        ["backup", "db", "--dsn", DSN_OK, "--bucket", "{bucket}", "--jobs", "0", *S3],
        "--jobs: expected 1 to 64",
    ),
    (["backup", "db", "--dsn", DSN_OK, "--bucket", "{bucket}", "--jobs", "-3", *S3], "found -3"),
    # options that do not apply to the mode
    (
        ["drill", "--local", "--point-in-time", "2026-01-01T00:00:00Z"],
        "--point-in-time: expected only with --stack",
    ),
    (["drill", "--snapshot", "manual-1"], "--snapshot: expected only with --stack/--outputs (RDS snapshots)"),
    (["drill", "--dsn", DSN_OK, "--orders", "100"], "--orders: expected only in the seeded local drill"),
    (["drill", "--waiter-delay", "5"], "--waiter-delay: expected only with --stack/--outputs"),
    (
        ["drill", "--bucket", "{bucket}", "--lock-days", "120", *S3],
        "--lock-days: expected only with the embedded S3",
    ),
    (
        ["drill", "--from-bucket", "s3://{bucket}/backups"],
        "--from-bucket: expected only with --dsn (the database whose stored backups are restored), found it "
        "without --dsn",
    ),
    (["drill", "--backup", "x.dump"], "--backup: expected only with --from-bucket"),
    (["drill", "--region", "eu-west-1"], "--region: expected only with a stack or a real bucket"),
    (["drill", "--stack", "staging", "--dsn", DSN_OK], "--dsn: expected only in the local drill"),
    (
        ["drill", "--outputs", "{file}", "--criticality", "standard"],
        "--criticality: expected only in the local",
    ),
    (["drill", "history", "--keep"], "--keep: expected only in a drill run (history only reads reports)"),
    (["drill", "history", "--smoke-command", "true"], "--smoke-command: expected only in a drill run"),
    (["drill", "history", "--orders", "100"], "--orders: expected only in the seeded local drill"),
    (["drill", "history", "--audit-log", "{dir}/a.log"], "--audit-log: expected only in a drill run"),
    (
        ["backup", "db", "--dsn", DSN_OK, "--bucket", "{bucket}", "--stack", "x", *S3],
        "unrecognized arguments: --stack x (see `backupctl backup db --help`)",
    ),
    (
        [
            "drill",
            "--dsn",
            DSN_OK,
            "--from-bucket",
            "s3://{bucket}",
            "--backup",
            "k",
            "--at",
            "2026-01-01",
            *S3,
        ],
        "--backup/--at: expected at most one of them, found both",
    ),
    # files and directories
    (
        ["drill", "--workdir", "/nonexistent/work"],
        "--workdir /nonexistent/work: expected an existing directory",
    ),
    (["drill", "--workdir", "{file}"], "expected a directory, found a file"),
    (["drill", "--workdir", "{ro}"], "expected a writable directory, found not writable (or on a read-only"),
    (["drill", "--workdir", "{shut}"], "expected a directory the postgres user can reach"),
    (["drill", "--report-dir", "{file}"], "--report-dir {file}: expected a directory, found a file"),
    (["drill", "--report-dir", "/nonexistent/reports"], "found no writable directory /nonexistent"),
    (
        ["drill", "--smoke", "{latin1}"],
        "--smoke {latin1}: expected a readable UTF-8 YAML or JSON file, found bytes",
    ),
    (["drill", "--smoke", "{dir}"], "found a directory"),
    (
        ["drill", "--smoke", "{typo}"],
        "--smoke {typo}: tabels: expected one of tables, nonEmpty, canaries (did you mean tables?), "
        "found 'tabels'",
    ),
    (
        ["drill", "--smoke", "{broken}"],
        "--smoke {broken}:3: expected valid YAML, found expected ',' or ']', but got '}}'",
    ),
    (
        ["drill", "--audit-log", "{dir}"],
        "--audit-log {dir}: expected a file path to write, found a directory",
    ),
    (
        ["backup", "db", "--dsn", DSN_OK, "--bucket", "{bucket}", "--audit-log", "{dir}", *S3],
        "found a directory",
    ),
    (["drill", "history", "--report-dir", "/nonexistent"], "--report-dir /nonexistent: expected an existing"),
    # unreachable databases and buckets, malformed locations and times
    (
        ["drill", "--dsn", DSN_CLOSED],
        'connection to server at "127.0.0.1", port {closed} failed: Connection refused',
    ),
    (
        ["drill", "--dsn", "host=127.0.0.1 port={pg} user=postgres dbname=nope"],
        'database "nope" does not exist',
    ),
    (
        ["drill", "--dsn", "port=notanumber"],
        "--dsn: expected a PostgreSQL database this host can reach, found invalid",
    ),
    (
        ["backup", "db", "--dsn", DSN_CLOSED, "--bucket", "{bucket}", *S3],
        "port {closed} failed: Connection refused",
    ),
    (
        ["backup", "db", "--dsn", "host=127.0.0.1 nonsense", "--bucket", "{bucket}", *S3],
        'missing "=" after "nonsense"',
    ),
    (
        [
            "backup",
            "db",
            "--dsn",
            "host=127.0.0.1 port={pg} user=postgres dbname=nope",
            "--bucket",
            "{bucket}",
            *S3,
        ],
        'database "nope" does not exist',
    ),
    (
        ["backup", "db", "--dsn", DSN_OK, "--bucket", "missing-bucket", *S3],
        "--bucket missing-bucket: expected an S3 bucket you can write, found no such bucket",
    ),
    (
        ["backup", "db", "--dsn", DSN_OK, "--bucket", "b", "--endpoint-url", "http://127.0.0.1:{closed}"],
        "--bucket b: expected a reachable S3 endpoint, found Could not connect",
    ),
    (
        ["drill", "--bucket", "missing-bucket", *S3],
        "--bucket missing-bucket: expected an S3 bucket you can write, found no such bucket",
    ),
    (
        ["drill", "--bucket", "{bucket}", *S3],
        "--evidence-bucket (default: the backup bucket) {bucket}: expected a bucket with a default Object "
        "Lock retention, found none",
    ),
    (
        ["drill", "--dsn", DSN_OK, "--from-bucket", "{bucket}/x", *S3],
        "--from-bucket: expected s3://BUCKET/PREFIX",
    ),
    (
        ["drill", "--dsn", DSN_OK, "--from-bucket", "s3://{bucket}", "--at", "yesterday", *S3],
        "--at: expected an ISO time",
    ),
]


@dataclass
class Places:
    values: dict[str, str]
    watched: list[Path]
    s3: Any

    def fill(self, text: str) -> str:
        return text.format(**self.values)


@pytest.fixture(scope="module")
def places() -> Iterator[Places]:
    with reachable_dir() as base:
        servers: list[Any] = []
        clients, s3_server = start_embedded_s3("GOVERNANCE", 90)
        read_only = base / "ro"
        read_only.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(read_only)],
            capture_output=True,
            check=False,
        )
        shut = Path(tempfile.mkdtemp(prefix="maestro-shut-"))  # 0700 root: closed to postgres
        try:
            server = add_server(base, servers, "pg").init().start()
            (base / "file.txt").write_text("not a directory")
            (base / "latin1.yaml").write_bytes(b"tables: [caf\xe9]")
            (base / "typo.yaml").write_text("tabels: [public.orders]\n")
            (base / "broken.yaml").write_text("tables:\n  - public.orders\ncanaries: {a: [1, 2}\n")
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                closed = s.getsockname()[1]
            values = {
                "dir": str(base),
                "file": str(base / "file.txt"),
                "latin1": str(base / "latin1.yaml"),
                "typo": str(base / "typo.yaml"),
                "broken": str(base / "broken.yaml"),
                "closed": str(closed),
                "pg": str(server.port),
                "s3": str(clients.endpoint_url),
                "bucket": LOCAL_BUCKET,
                "ro": str(read_only) if mounted.returncode == 0 else "/proc/sys",
                "shut": str(shut),
            }
            yield Places(values, [base, shut], clients.client("s3"))
        finally:
            subprocess.run(["umount", "-l", str(read_only)], capture_output=True, check=False)
            for s in servers:
                s.stop()
            s3_server.stop()
            os.rmdir(shut)


def _snapshot(paths: list[Path]) -> dict[str, float]:
    """Every file under ``paths`` but the PostgreSQL server's own (its log notes refused connections)."""
    return {
        str(p): p.stat().st_mtime
        for root in paths
        for p in root.rglob("*")
        if p.is_file() and "pg" not in p.relative_to(root).parts[:1]
    }


def _objects(s3: Any) -> list[str]:
    return sorted(
        o["Key"]
        for b in (LOCAL_BUCKET, LOCAL_EVIDENCE_BUCKET)
        for o in s3.list_objects_v2(Bucket=b).get("Contents", [])
    )


def test_the_table_is_big_enough() -> None:
    assert len(ROWS) >= 20


@pytest.mark.parametrize(("argv", "words"), ROWS, ids=[" ".join(r[0])[:60] for r in ROWS])
def test_bad_input_is_one_line_exit_2_and_no_work(
    places: Places,
    tmp_path: Path,
    argv: list[str],
    words: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "5")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where backup db and the drill would work
    args = [places.fill(a) for a in argv]
    audit = tmp_path / "audit.jsonl"
    if "--audit-log" not in args and args[:2] != ["drill", "history"]:
        args += ["--audit-log", str(audit)]
    if args[0] == "drill" and "--report-dir" not in args:
        args += ["--report-dir", str(tmp_path / "reports")]
    before, objects = _snapshot(places.watched), _objects(places.s3)
    code = main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("backupctl: error: "), err
    assert places.fill(words) in lines[0]
    assert "Traceback" not in err
    assert _snapshot(places.watched) == before, "a file was written or changed"
    assert _objects(places.s3) == objects, "something was stored"
    assert list(scratch.iterdir()) == [] and not (tmp_path / "reports").exists()
    assert postgres_processes(scratch) == []
    if audit.exists():  # every refused drill or backup run leaves its record (names, never values)
        (record,) = [json.loads(line) for line in audit.read_text().splitlines()]
        assert record["result"] == "error" and record["command"] in ("drill", "backup db")
        assert "password" not in json.dumps(record)
    else:
        assert "--audit-log" in args or args[:2] == ["drill", "history"]


@pytest.mark.parametrize(
    "content", [b"{not json", b'{"schema": "maestro-backup/drill-report@1"}', b"\xff\xfe"]
)
def test_drill_history_names_every_report_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    (tmp_path / "drill-x.json").write_bytes(content)
    assert main(["drill", "history", "--report-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert out == "no drill reports found\n"
    (line,) = err.strip().splitlines()
    assert line.startswith("backupctl: warning: skipped ") and "drill-x.json" in line


def test_a_missing_postgresql_tool_is_one_line_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PG_BINDIR", "/nonexistent/bin")
    code = main(["drill", "--report-dir", str(tmp_path / "reports"), "--audit-log", str(tmp_path / "a.log")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [
        "backupctl: error: PostgreSQL tool initdb: expected /nonexistent/bin/initdb to exist, found missing"
    ]
    assert not (tmp_path / "reports").exists()
