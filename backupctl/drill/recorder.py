"""The drill's record (runbook 2.1 steps 1-10, 2.2 targets): each step's status, timings and detail,
the findings, and the RTO/RPO measurement; printed as progress while it runs, returned as the report.

A step runs inside ``guarded``: an expected failure (``StepFailed``, a PostgreSQL or AWS error, a full
disk) is recorded, and a fatal one makes the remaining steps skip; ``StepSkipped`` records a step that
does not apply to this target. Anything else is recorded as failed and raised.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from backupctl.drill.dbbackup import DumpRefused
from backupctl.drill.pgtools import PgError
from backupctl.drill.report import REPORT_SCHEMA
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
    10: "Clean up",
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
        }


@dataclass
class Drill:
    mode: str
    source: str
    criticality: str
    stack: str | None = None
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
            record.status, record.detail = "SKIP", str(skipped)
            if skipped.warn:
                self.finding(False, skipped.warn, skipped.resource or self.source, str(skipped), warn=True)
        except EXPECTED_ERRORS as exc:
            record.status = "FAIL"
            record.detail = str(exc) if not record.detail else f"{record.detail}; {exc}"
            self.finding(False, f"drill-step-{number}", self.source, f"step {number} ({record.title}): {exc}")
            if fatal:
                self.aborted = True
        except BaseException:
            record.status = "FAIL"  # bad input or a bug: shown as failed, then raised (cleanup still runs)
            raise
        finally:
            record.finished_at = datetime.now(UTC)
            seconds = (record.finished_at - record.started_at).total_seconds()
            print(f"        {record.status} in {seconds:.1f} s  {record.detail}", file=self.out, flush=True)

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
        return {
            "schema": REPORT_SCHEMA,
            "drillId": self.id,
            "mode": self.mode,
            "stack": self.stack,
            "source": self.source,
            "criticality": self.criticality,
            "targets": {"rpoMinutes": rpo_target, "rtoMinutes": rto_target},
            "startedAt": self.started_at.isoformat(),
            "finishedAt": datetime.now(UTC).isoformat(),
            "result": "PASS" if ok else "FAIL",
            "backup": self.backup,
            "pointInTime": self.point_in_time,
            "newestTransaction": self.newest_transaction,
            **measured,
            "steps": [s.to_dict() for s in sorted(self.steps.values(), key=lambda s: s.number)],
            "findings": [f.to_dict() for f in self.findings],
            "evidence": self.evidence,
        }


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
