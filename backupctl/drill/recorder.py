"""The drill's record (runbook 2.1 steps 1-10, 2.2 targets): each step's status, timings and detail,
the findings, and the RTO/RPO measurement; printed as progress while it runs, returned as the report.

A step runs inside ``guarded``: an expected failure (``StepFailed``, a PostgreSQL or AWS error, a full
disk) is recorded, and a fatal one makes the remaining steps skip; ``StepSkipped`` records a step that
does not apply to this target. Anything else (a signal, a bug) is recorded as failed and raised. A
failing step's detail is one bounded line naming the cause; the whole message and the tool's own output
go to a log file beside the report, which the step names.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from backupctl.drill.dbbackup import DumpRefused
from backupctl.drill.pgtools import PgError, one_line
from backupctl.drill.report import REPORT_SCHEMA
from backupctl.errors import Interrupted
from backupctl.findings import Finding

STEPS = {
    1: "Isolate the drill environment",
    2: "Select the backup",
    3: "Restore the database and verify integrity",
    4: "Restore the artifacts index",
    5: "Point-in-time recovery",
    6: "Restore configuration",
    7: "Smoke tests",
    8: "Measure RTO and RPO",
    9: "Write the drill report",
    10: "Clean up (before 9: the report records it)",
}
ALWAYS_RUN = (9, 10)  # the report and the cleanup run even after a fatal step failed
# Runbook 2.2 targets per criticality (RPO minutes, RTO minutes); mirrors components.settings (tested).
TARGETS = {"critical": (15, 4 * 60), "standard": (4 * 60, 24 * 60)}


class StepFailed(Exception):
    """An expected failure of a step (integrity mismatch, smoke failure): recorded, never a traceback."""


class StepSkipped(Exception):
    """The step does not apply to this target or this run; ``warn`` adds an advisory finding."""

    def __init__(self, reason: str, *, warn: str | None = None, resource: str | None = None) -> None:
        super().__init__(reason)
        self.warn, self.resource = warn, resource


EXPECTED_ERRORS = (
    StepFailed,
    PgError,
    DumpRefused,
    ClientError,
    BotoCoreError,
    WaiterError,
    OSError,
)


@dataclass
class StepRecord:
    number: int
    title: str
    status: str = "SKIP"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    detail: str = ""
    log: str | None = None  # the whole error and the tool's output, when the detail had to be shortened

    def to_dict(self) -> dict[str, Any]:
        started = self.started_at or datetime.now(UTC)
        finished = self.finished_at or started
        return {
            "number": self.number,
            "title": self.title,
            "status": self.status,
            "startedAt": started.isoformat(),
            "finishedAt": finished.isoformat(),
            "seconds": round((finished - started).total_seconds(), 3),
            "detail": self.detail,
            **({"log": self.log} if self.log else {}),
        }


def signal_name(exc: BaseException) -> str | None:
    """SIGINT/SIGTERM/SIGHUP when ``exc`` is an interruption, else None."""
    if isinstance(exc, KeyboardInterrupt):
        return "SIGINT"
    if isinstance(exc, Interrupted):
        return signal.Signals(exc.signum).name
    return None


@dataclass
class Drill:
    mode: str
    source: str
    criticality: str
    stack: str | None = None
    database: str | None = None  # the database drilled, by name: what `drill history` groups by
    out: TextIO = field(default_factory=lambda: sys.stderr)
    id: str = field(
        default_factory=lambda: f"drill-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    )
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    steps: dict[int, StepRecord] = field(
        default_factory=lambda: {n: StepRecord(n, t) for n, t in STEPS.items()}
    )
    findings: list[Finding] = field(default_factory=list)
    backup: dict[str, Any] = field(default_factory=dict)
    point_in_time: str | None = None
    newest_transaction: str | None = None
    target_point: datetime | None = None
    newest_write: datetime | None = None
    smoke_passed_at: datetime | None = None
    evidence: dict[str, Any] | None = None
    aborted: bool = False
    interrupted: str | None = None  # the signal that stopped the drill
    stopped_at: dict[str, Any] | None = None  # the step that stopped the drill, and why
    log_dir: Path | None = None  # where a failing step's whole log is kept (the report directory)

    @property
    def targets(self) -> tuple[int, int]:
        return TARGETS[self.criticality]

    def log(self, text: str) -> None:
        print(f"        {text}", file=self.out, flush=True)

    def finding(self, ok: bool, check: str, resource: str, message: str, *, warn: bool = False) -> None:
        if warn and not ok:
            self.findings.append(Finding("WARN", "2.1", check, resource, message, mandatory=False))
        else:
            self.findings.append(Finding.judge(ok, "2.1", check, resource, message))

    @contextlib.contextmanager
    def step(self, number: int, *, fatal: bool = True) -> Iterator[StepRecord]:
        record = self.steps[number]
        print(f"[{number:>2}/10] {record.title} ...", file=self.out, flush=True)
        record.started_at = datetime.now(UTC)
        record.status = "PASS"
        try:
            yield record
        except StepSkipped as skipped:
            record.status, record.detail = "SKIP", one_line(str(skipped))
            if skipped.warn:
                self.finding(False, skipped.warn, skipped.resource or self.source, str(skipped), warn=True)
        except EXPECTED_ERRORS as exc:
            reason = self._failed(record, exc)
            self.finding(
                False, f"drill-step-{number}", self.source, f"step {number} ({record.title}): {reason}"
            )
            if fatal:
                self.aborted = True
                self.stopped_at = self.stopped_at or {"step": number, "title": record.title, "reason": reason}
        except BaseException as exc:
            # A signal, bad input or a bug: shown as failed, then raised (cleanup and the report still run).
            stop = signal_name(exc)
            reason = f"interrupted ({stop})" if stop else self._failed(record, exc)
            record.status = "FAIL"
            if stop:
                record.detail = f"{record.detail}; {reason}" if record.detail else reason
                self.interrupted = stop
            self.stopped_at = self.stopped_at or {"step": number, "title": record.title, "reason": reason}
            raise
        finally:
            record.finished_at = datetime.now(UTC)
            seconds = (record.finished_at - record.started_at).total_seconds()
            print(f"        {record.status} in {seconds:.1f} s  {record.detail}", file=self.out, flush=True)

    def _failed(self, record: StepRecord, exc: BaseException) -> str:
        """Records a failed step: one bounded line, and the whole story in a log file beside the report."""
        full = str(exc) if not isinstance(exc, OSError) or not exc.strerror else _os_error(exc)
        reason = one_line(full)
        record.status = "FAIL"
        record.detail = one_line(f"{record.detail}; {reason}" if record.detail else reason)
        tool_log = getattr(exc, "log", "") or ""
        if (tool_log or reason != " ".join(full.split())) and self.log_dir is not None:
            path = self.log_dir / f"{self.id}.step-{record.number}.log"
            with contextlib.suppress(OSError):  # the log is extra; the bounded line is already recorded
                path.write_text(f"{type(exc).__name__}: {full}\n\n{tool_log}", encoding="utf-8")
                record.log = str(path)
        return reason

    def measure(self) -> dict[str, Any]:
        rpo_target, rto_target = self.targets
        rto = (self.smoke_passed_at - self.started_at).total_seconds() if self.smoke_passed_at else None
        rpo = None
        if self.target_point and self.newest_write:
            rpo = max(0.0, (self.target_point - self.newest_write).total_seconds())
        return {
            "rtoSeconds": None if rto is None else round(rto, 3),
            "rpoSeconds": None if rpo is None else round(rpo, 3),
            "rtoMet": rto is not None and rto <= rto_target * 60,
            "rpoMet": rpo is not None and rpo <= rpo_target * 60,
        }

    def report(self) -> dict[str, Any]:
        rpo_target, rto_target = self.targets
        measured = self.measure()
        failed = any(f.status == "FAIL" and f.mandatory for f in self.findings) or any(
            s.status == "FAIL" for s in self.steps.values()
        )
        ok = not failed and measured["rtoMet"] and measured["rpoMet"]
        result = "INTERRUPTED" if self.interrupted else "PASS" if ok else "FAIL"
        return {
            "schema": REPORT_SCHEMA,
            "drillId": self.id,
            "mode": self.mode,
            "stack": self.stack,
            "source": self.source,
            "database": self.database,
            "criticality": self.criticality,
            "targets": {"rpoMinutes": rpo_target, "rtoMinutes": rto_target},
            "startedAt": self.started_at.isoformat(),
            "finishedAt": datetime.now(UTC).isoformat(),
            "result": result,
            "stoppedAt": self.stopped_at,
            "backup": self.backup,
            "pointInTime": self.point_in_time,
            "newestTransaction": self.newest_transaction,
            **measured,
            "steps": [s.to_dict() for s in sorted(self.steps.values(), key=lambda s: s.number)],
            "findings": [f.to_dict() for f in self.findings],
            "evidence": self.evidence,
        }


def _os_error(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror}{where}"


@contextlib.contextmanager
def guarded(drill: Drill, number: int, *, fatal: bool = True) -> Iterator[StepRecord | None]:
    """``with guarded(drill, n) as step:``; ``step`` is None when an earlier fatal step failed (the
    checklist step is then recorded as skipped, except the report and the cleanup, which always run)."""
    if drill.aborted and number not in ALWAYS_RUN:
        drill.steps[number].detail = "skipped: an earlier step failed"
        print(f"[{number:>2}/10] {drill.steps[number].title}: SKIP  (an earlier step failed)", file=drill.out)
        yield None
        return
    with drill.step(number, fatal=fatal) as record:
        yield record
