"""The drill under faults (issue 13), each on real PostgreSQL: signals in the middle of a restore, a disk
that fills up (a tmpfs mounted for the test), S3 that is gone (a closed port; the embedded server stopped
mid-run). The drill must stop or fail with the real cause in one bounded line, leave no server or work
directory behind, and still write an honest report and its audit record."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backupctl.drill import dbbackup, steps
from backupctl.drill.local import LocalPostgres, run_local
from backupctl.drill.pgtools import MAX_LINE, LocalServer
from backupctl.drill.recorder import Drill
from backupctl.drill.sandbox import start_embedded_s3
from tests.drill_support import (
    PROJECT_DIR,
    assert_nothing_left,
    local_options,
    postgres,
    postgres_processes,
    reachable_dir,
    statuses,
    step,
    workdir,
)

__all__ = ["workdir"]  # a fixture: imported so that pytest finds it

pytestmark = postgres
EXIT_WITHIN_SECONDS = 30  # "within a few seconds" with room for a loaded CI machine


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


# ---- signals ---------------------------------------------------------------------------------------------


class Drilling:
    """``backupctl drill`` in its own session (as from a terminal or a service manager), its progress read
    as it comes."""

    def __init__(self, workdir: Path, tmp_path: Path) -> None:
        self.reports, self.audit = tmp_path / "reports", tmp_path / "audit.jsonl"
        argv = [sys.executable, "-m", "backupctl", "drill", "--orders", "300000", "--workdir", str(workdir)]
        argv += ["--report-dir", str(self.reports), "--audit-log", str(self.audit)]
        self.proc = subprocess.Popen(
            argv,
            cwd=PROJECT_DIR,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.proc.poll() is None, f"the drill ended before {text!r}: {self.lines[-5:]}"
            assert time.monotonic() < deadline, f"no {text!r} in {timeout} s: {self.lines[-5:]}"
            time.sleep(0.02)

    def finish(self) -> int:
        code = self.proc.wait(timeout=120)
        self.reader.join(timeout=10)
        return code


@pytest.mark.parametrize(
    ("signum", "to_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGTERM, True), (signal.SIGHUP, False)],
    ids=["SIGINT-terminal", "SIGTERM-process", "SIGTERM-group", "SIGHUP-process"],
)
def test_a_signal_during_the_restore_stops_the_drill_cleans_up_and_reports_it(
    workdir: Path, tmp_path: Path, signum: int, to_group: bool
) -> None:
    drilling = Drilling(workdir, tmp_path)
    try:
        drilling.wait_for("[ 3/10]")
        sent = time.monotonic()
        if to_group:  # Ctrl-C reaches the terminal's whole foreground group: the tools too
            os.killpg(drilling.proc.pid, signum)
        else:
            drilling.proc.send_signal(signum)
        code = drilling.finish()
        took = time.monotonic() - sent
    finally:
        if drilling.proc.poll() is None:
            drilling.proc.kill()
    name = signal.Signals(signum).name
    assert code == 128 + signum, drilling.lines[-5:]
    assert took < EXIT_WITHIN_SECONDS
    assert drilling.lines[-1] == f"backupctl: interrupted ({name})"
    assert "Traceback" not in "\n".join(drilling.lines)
    assert_nothing_left(workdir)
    (path,) = drilling.reports.glob("drill-*.json")
    report = json.loads(path.read_text())
    assert report["result"] == "INTERRUPTED"
    assert report["stoppedAt"] == {
        "step": 3,
        "title": step(report, 3)["title"],
        "reason": f"interrupted ({name})",
    }
    assert statuses(report)[10] == "PASS" and statuses(report)[9] == "PASS"
    assert report["evidence"] == {"sealed": False, "reason": f"the drill was interrupted ({name})"}
    (record,) = [json.loads(line) for line in drilling.audit.read_text().splitlines()]
    assert record["result"] == "interrupted" and record["reason"] == name
    assert record["drillId"] == report["drillId"] and record["report"][0] == str(path)


def test_more_signals_during_the_cleanup_do_not_stop_it(workdir: Path, tmp_path: Path) -> None:
    drilling = Drilling(workdir, tmp_path)
    try:
        drilling.wait_for("[ 3/10]")
        drilling.proc.send_signal(signal.SIGTERM)
        drilling.wait_for("[10/10]", timeout=EXIT_WITHIN_SECONDS)
        for _ in range(5):  # an impatient operator at the terminal: the whole foreground group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(drilling.proc.pid, signal.SIGINT)
            time.sleep(0.05)
        code = drilling.finish()
    finally:
        if drilling.proc.poll() is None:
            drilling.proc.kill()
    # The drill stops for the first signal; a later one may still be the one the exit code names, or,
    # arriving once backupctl is done and exiting, end it as Ctrl-C ends any program (the shell's 130).
    assert code in (128 + signal.SIGTERM, 128 + signal.SIGINT, -signal.SIGINT), drilling.lines[-5:]
    assert drilling.lines[-1].startswith("backupctl: interrupted (")
    assert not any("Traceback" in line or "Exception ignored" in line for line in drilling.lines)
    assert_nothing_left(workdir)
    assert postgres_processes(workdir) == []
    (record,) = [json.loads(line) for line in drilling.audit.read_text().splitlines()]
    assert record["result"] == "interrupted"


# ---- a full disk -----------------------------------------------------------------------------------------


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 600 MB tmpfs the postgres user can reach: a disk this test can fill (as root; skipped when a
    mount is not possible here)."""
    with reachable_dir("maestro-tmpfs-") as mount:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=600m,mode=0755", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        try:
            yield mount
        finally:
            from tests.drill_support import stop_servers_under

            stop_servers_under(mount)
            subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


def fill(disk: Path, leave: int = 64 * 1024) -> Path:
    """Fills ``disk`` but for ``leave`` bytes."""
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with filler.open("wb") as out, contextlib.suppress(OSError):
        os.posix_fallocate(out.fileno(), 0, max(0, free - leave))
    return filler


def assert_bounded_and_logged(report: dict[str, Any], number: int, report_dir: Path) -> None:
    failed = step(report, number)
    assert failed["status"] == "FAIL"
    assert "No space left on device" in failed["detail"], failed["detail"]
    assert len(failed["detail"]) <= MAX_LINE and "\n" not in failed["detail"]
    assert Path(failed["log"]).parent == report_dir and Path(failed["log"]).stat().st_size > 0
    sizes = [p.stat().st_size for p in report_dir.glob("drill-*.json")]
    assert sizes and max(sizes) < 64 * 1024  # a report, not a dump of every failed file


def test_a_disk_that_fills_during_pg_restore_is_named_as_the_cause(
    small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    download = dbbackup.download

    def download_then_fill(s3: Any, manifest: dict[str, Any], path: Path) -> Path:
        done = download(s3, manifest, path)
        fill(small_disk, leave=2 * 1024 * 1024)  # room to create the database, not to load it
        return done

    monkeypatch.setattr(dbbackup, "download", download_then_fill)
    clients, server = start_embedded_s3("GOVERNANCE", 90)
    try:
        report = run_local(local_options(clients, small_disk, tmp_path, orders=40_000))
    finally:
        server.stop()
    assert report["result"] == "FAIL" and report["stoppedAt"]["step"] == 3
    assert_bounded_and_logged(report, 3, tmp_path)
    assert (
        "worker process died" not in step(report, 3)["detail"]
    )  # pg_restore's own reason, not its last words
    assert statuses(report)[10] == "PASS"
    (small_disk / "filler").unlink()
    assert_nothing_left(small_disk)


def test_a_disk_that_fills_before_point_in_time_recovery_is_named_as_the_cause(
    small_disk: Path, tmp_path: Path
) -> None:
    clients, server = start_embedded_s3("GOVERNANCE", 90)
    try:
        opts = local_options(clients, small_disk, tmp_path)
        target = LocalPostgres(opts, Drill("local", "seeded local database", "critical", log_dir=tmp_path))
        replay = target.replay

        def fill_then_replay() -> str:
            fill(small_disk)
            return replay()

        target.replay = fill_then_replay  # type: ignore[method-assign]
        report = steps.run(target)
    finally:
        server.stop()
    assert statuses(report)[5] == "FAIL"
    assert_bounded_and_logged(report, 5, tmp_path)
    assert statuses(report)[10] == "PASS"
    (small_disk / "filler").unlink()
    assert_nothing_left(small_disk)


# ---- S3 gone ---------------------------------------------------------------------------------------------


def test_s3_stopped_mid_run_fails_the_drill_and_says_evidence_was_not_sealed(
    workdir: Path, tmp_path: Path
) -> None:
    clients, server = start_embedded_s3("GOVERNANCE", 90)
    try:
        opts = local_options(clients, workdir, tmp_path, after_backup=lambda *_: server.stop())
        started = time.monotonic()
        report = run_local(opts)
        took = time.monotonic() - started
    finally:
        server.stop()
    assert took < 120
    assert (
        statuses(report)[3] == "FAIL" and "Could not connect to the endpoint URL" in step(report, 3)["detail"]
    )
    assert statuses(report)[9] == "FAIL" and "evidence NOT sealed" in step(report, 9)["detail"]
    assert report["evidence"]["sealed"] is False and report["evidence"]["keys"] == []
    assert report["result"] == "FAIL"
    (path,) = tmp_path.glob("drill-*.json")
    assert json.loads(path.read_text())["evidence"] == report["evidence"]
    assert_nothing_left(workdir)


def test_a_closed_s3_endpoint_is_bad_input_before_any_work(
    workdir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(var, "testing")
    from backupctl.cli import main

    audit = tmp_path / "audit.jsonl"
    reports = tmp_path / "reports"
    started = time.monotonic()
    code = main(
        [
            "drill",
            "--bucket",
            "backups",
            "--endpoint-url",
            f"http://127.0.0.1:{closed_port()}",
            "--workdir",
            str(workdir),
            "--report-dir",
            str(reports),
            "--audit-log",
            str(audit),
        ]
    )
    took = time.monotonic() - started
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and took < 60
    assert len(err) == 1 and err[0].startswith("backupctl: error: --bucket backups: expected a reachable S3")
    assert "Could not connect to the endpoint URL" in err[0]
    assert not reports.exists() and list(workdir.iterdir()) == []
    (record,) = [json.loads(line) for line in audit.read_text().splitlines()]
    assert record["result"] == "error" and record["command"] == "drill"


# ---- the upload that follows pg_dump ---------------------------------------------------------------------


def test_the_upload_that_follows_a_growing_dump_stores_exactly_the_finished_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts are sent while the file grows; what the writer rewrites afterwards (pg_dump -Fc rewrites its
    table of contents at the start; here a middle part too) is sent again, so the object is the file."""
    monkeypatch.setattr(dbbackup, "PART", 5 * 1024 * 1024)  # S3's smallest part
    path = tmp_path / "growing.dump"
    chunk = 1024 * 1024
    written = threading.Event()

    def writer() -> None:
        with path.open("wb") as out:
            for i in range(23):
                out.write(bytes([i]) * chunk)
                out.flush()
                time.sleep(0.02)
            out.seek(100)
            out.write(b"table of contents, rewritten")
            out.seek(7 * chunk)
            out.write(b"a part changed after it was sent")
        written.set()

    clients, server = start_embedded_s3("GOVERNANCE", 90)
    try:
        s3 = clients.client("s3")
        upload = dbbackup.PartUpload(s3, "maestro-drill-backups", "growing.dump", path, {})
        thread = threading.Thread(target=writer)
        thread.start()
        upload.follow(written)
        thread.join()
        early = sorted(upload.sent)
        sha256 = upload.finish()
        stored = s3.get_object(Bucket="maestro-drill-backups", Key="growing.dump")["Body"].read()
    finally:
        server.stop()
    content = path.read_bytes()
    assert stored == content and sha256 == hashlib.sha256(content).hexdigest()
    assert 1 not in early and len(early) >= 2, early  # parts went out while the file grew, not the first


def test_a_restore_server_that_went_down_is_named_by_its_own_log(tmp_path: Path) -> None:
    """pg_restore only sees "server closed the connection"; the server's log says why (seen here when
    the WAL filled a disk)."""
    server = LocalServer(tmp_path)
    (tmp_path / "server.log").write_text("LOG:  database system is ready to accept connections\n")
    assert server.crash() is None
    with (tmp_path / "server.log").open("a") as log:
        log.write(
            'PANIC:  could not write to file "pg_wal/xlogtemp.7342": No space left on device\n'
            "LOG:  server process (PID 7342) was terminated by signal 6: Aborted\n"
        )
    assert server.crash() == 'PANIC: could not write to file "pg_wal/xlogtemp.7342": No space left on device'
