"""What the drill tests share: the PostgreSQL marker, a work dir the server user can reach whose servers
are stopped even when a test fails, the type zoo, and the "nothing left behind" check."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backupctl.drill.local import LocalOptions
from backupctl.drill.pgtools import Conn, LocalServer, as_server_user, bindir, run, sql, tool
from backupctl.drill.sandbox import LOCAL_BUCKET, LOCAL_EVIDENCE_BUCKET
from backupctl.live.aws import Clients

PROJECT_DIR = Path(__file__).resolve().parent.parent
TYPE_ZOO = PROJECT_DIR / "tests" / "fixtures" / "typezoo.sql"

try:
    HAVE_PG = (bindir() / "initdb").exists()
except Exception:
    HAVE_PG = False
postgres = pytest.mark.skipif(not HAVE_PG, reason="PostgreSQL binaries (initdb, pg_dump) are not installed")


def stop_servers_under(path: Path) -> None:
    """Stops every postmaster whose data directory is under ``path`` (a failed test's leftovers)."""
    for pid_file in path.rglob("postmaster.pid"):
        data = pid_file.parent
        done = subprocess.run(
            [*as_server_user(), tool("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            with contextlib.suppress(OSError, ValueError, IndexError):
                os.kill(int(pid_file.read_text().splitlines()[0]), signal.SIGKILL)


@contextlib.contextmanager
def reachable_dir(prefix: str = "maestro-test-") -> Iterator[Path]:
    """A base dir the postgres user can reach (pytest's tmp_path is root-only when we are root); every
    server under it is stopped and the dir removed afterwards, whatever the test did."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        if HAVE_PG:
            stop_servers_under(path)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def workdir() -> Iterator[Path]:
    with reachable_dir() as path:
        yield path


def postgres_processes(marker: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False).stdout
    return [line for line in out.splitlines() if str(marker) in line and "postgres" in line]


def assert_nothing_left(workdir: Path) -> None:
    assert list(workdir.iterdir()) == [], f"left behind: {list(workdir.iterdir())}"
    assert postgres_processes(workdir) == []


def local_options(clients: Clients, workdir: Path, report_dir: Path, **extra: Any) -> LocalOptions:
    options: dict[str, Any] = {
        "clients": clients,
        "bucket": LOCAL_BUCKET,
        "evidence_bucket": LOCAL_EVIDENCE_BUCKET,
        "report_dir": report_dir,
        "orders": 1500,
        "workdir": str(workdir),
    }
    return LocalOptions(**(options | extra))


def statuses(report: dict[str, Any]) -> dict[int, str]:
    return {s["number"]: s["status"] for s in report["steps"]}


def step(report: dict[str, Any], number: int) -> dict[str, Any]:
    return next(s for s in report["steps"] if s["number"] == number)


def load_zoo(server: LocalServer) -> Conn:
    """The type zoo (tests/fixtures/typezoo.sql) in a database ``zoo`` on ``server``."""
    sql(server.conn, "create database zoo")
    zoo = server.conn.with_db("zoo")
    run([tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", *zoo.args(), "-f", str(TYPE_ZOO)], what="zoo")
    return zoo


def dsn_of(conn: Conn) -> str:
    return f"host={conn.host} port={conn.port} user={conn.user} dbname={conn.dbname}"
