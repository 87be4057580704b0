"""Runbook 2.1's ten checklist steps, written once, over any ``Target``.

A target knows how to isolate itself, pick and restore a backup, replay to a point in time, restore
configuration, hand out a connection to the restore and clean up; ``run`` walks steps 1-10 in order over
it, records each step's timings and findings, measures RTO/RPO against runbook 2.2, always cleans up
(also after a failed step, an unexpected error or a signal: SIGINT, SIGTERM and SIGHUP alike, with
further signals held off until the cleanup is done) and writes the report. A drill that finished is
sealed in the evidence bucket; an interrupted one is written locally only, and its report says so and
which step it stopped in. Adding a target (a self-managed server, Aurora) is one new module
implementing ``Target``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from backupctl.drill import checks
from backupctl.drill import report as drillreport
from backupctl.drill.checks import Query, SmokeSuite
from backupctl.drill.pgtools import one_line, stop_children
from backupctl.drill.recorder import Drill, StepFailed, guarded, signal_name
from backupctl.errors import raise_signal, signals_held


@dataclass
class Restored:
    """A connection to the restored database: SQL, the libpq environment for a smoke command, a name."""

    query: Query
    env: dict[str, str]
    resource: str


@dataclass
class Evidence:
    """Where step 9 seals the report: an Object Lock bucket (or none) and a local directory."""

    s3: Any
    bucket: str | None
    report_dir: Path
    kms_key_id: str | None = None


@dataclass
class Smoke:
    suite: SmokeSuite | None = None
    command: str | None = None


class Target(Protocol):
    """Where a drill restores to. Each method is the target's part of one step: it returns the step's
    detail line, raises ``StepFailed`` (or a PostgreSQL/AWS error) when the step fails, or
    ``StepSkipped`` when the step does not apply."""

    drill: Drill
    evidence: Evidence
    smoke: Smoke

    def isolate(self) -> str: ...  # step 1
    def select_backup(self) -> str: ...  # step 2: sets drill.backup and drill.target_point
    def restore(self) -> str: ...  # step 3, with its integrity check
    def artifacts_index(self) -> tuple[checks.Index, checks.Index, str]: ...  # step 4
    def replay(self) -> str: ...  # step 5
    def restore_config(self) -> str: ...  # step 6
    def connect(self) -> Restored: ...  # steps 7 and 8
    def clean_up(self) -> str: ...  # step 10: only what this drill created


@dataclass
class Step:
    number: int
    action: Callable[[], str]
    fatal: bool = True  # a failed fatal step skips the rest of the checklist (not 9 and 10)


def checklist(target: Target) -> list[Step]:
    drill = target.drill

    def index() -> str:
        return checks.artifacts_index(drill, *target.artifacts_index())

    def smoke() -> str:
        restored = target.connect()
        return checks.smoke(
            drill, restored.query, target.smoke.suite, target.smoke.command, restored.env, restored.resource
        )

    def measure() -> str:
        if drill.newest_write is None:  # a target that knows its newest write (a stored backup) set it
            drill.newest_write = checks.newest_heartbeat(target.connect().query)
        return checks.measure(drill)

    return [
        Step(1, target.isolate),
        Step(2, target.select_backup),
        Step(3, target.restore),
        Step(4, index, fatal=False),
        Step(5, target.replay, fatal=False),
        Step(6, target.restore_config, fatal=False),
        Step(7, smoke),
        Step(8, measure, fatal=False),
    ]


def run(target: Target, on_report: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Steps 1-8 over ``target``, then 10 (always, even after an error or a signal) and 9; returns the
    report, or re-raises what stopped the drill once its report is written (``on_report`` sees it
    either way: the audit record of an interrupted drill names its report)."""
    drill = target.drill
    stopped: BaseException | None = None
    try:
        for step in checklist(target):
            with guarded(drill, step.number, fatal=step.fatal) as record:
                if record is not None:
                    record.detail = step.action()
    except BaseException as exc:
        stopped = exc
        stop_children()  # tools still running in worker threads; the servers are step 10's
        if drill.interrupted is None and signal_name(exc):  # arrived between two steps
            drill.interrupted = signal_name(exc)
        where = drill.stopped_at["step"] if drill.stopped_at else "an earlier step"
        for record in drill.steps.values():
            if record.started_at is None and record.number not in (9, 10):
                record.detail = f"not run: the drill stopped in step {where}"
    with signals_held() as caught:
        with guarded(drill, 10, fatal=False) as record:
            if record is not None:
                record.detail = target.clean_up()
        report = seal(drill, target.evidence)
        if on_report is not None:
            on_report(report)
    if stopped is not None:
        raise stopped
    if caught:
        raise_signal(caught[0])  # a signal during the cleanup: the drill is done, the exit says why
    return report


def seal(drill: Drill, evidence: Evidence) -> dict[str, Any]:
    """Step 9: the report as JSON and Markdown, under Object Lock in the evidence bucket and locally.
    ``evidence`` in the report names only what was written: when sealing fails it says so and why."""
    with guarded(drill, 9, fatal=False) as step:
        if step is not None:
            step.detail = "JSON + Markdown"
            if drill.interrupted:
                drill.evidence = {
                    "sealed": False,
                    "reason": f"the drill was interrupted ({drill.interrupted})",
                }
                step.detail += f" written locally only: {drill.evidence['reason']}"
            elif evidence.bucket:
                _seal_in_bucket(drill, evidence, step)
            else:
                drill.evidence = {"sealed": False, "reason": "no evidence bucket"}
                step.detail += " written locally only: no evidence bucket"
    report = drill.report()
    json_path, md_path = drillreport.write_local(report, evidence.report_dir)
    report["localFiles"] = [str(json_path), str(md_path)]
    return report


def _seal_in_bucket(drill: Drill, evidence: Evidence, step: Any) -> None:
    assert evidence.bucket is not None
    written: list[str] = []

    def report_sealed_as(sealed: dict[str, Any]) -> dict[str, Any]:
        drill.evidence = sealed  # the sealed copy names where it is sealed
        return drill.report()

    try:
        drill.evidence = drillreport.write_evidence(
            evidence.s3,
            evidence.bucket,
            drillreport.evidence_keys(drill.id, drill.started_at),
            report_sealed_as,
            written,
            kms_key_id=evidence.kms_key_id,
        )
    except BaseException as exc:
        drill.evidence = {
            "sealed": False,
            "bucket": evidence.bucket,
            "keys": written,  # only what was stored, never what was meant to be
            "reason": one_line(str(exc)),
        }
        if isinstance(exc, Exception):
            raise StepFailed(f"evidence NOT sealed in s3://{evidence.bucket}: {one_line(str(exc))}") from exc
        raise
    sealed = drill.evidence
    until, mode = sealed["retainUntil"][:10], sealed["lockMode"]
    step.detail += f" sealed in s3://{evidence.bucket} until {until} ({mode})"
