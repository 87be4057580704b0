"""Runbook 2.1's ten checklist steps, written once, over any ``Target``.

A target knows how to isolate itself, pick and restore a backup, replay to a point in time, restore
configuration, hand out a connection to the restore and clean up; ``run`` walks steps 1-10 in order over
it, records each step's timings and findings, measures RTO/RPO against runbook 2.2, always cleans up
(also after a failed step or an unexpected error) and seals the report. Adding a target (a self-managed
server, Aurora) is one new module implementing ``Target``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from backupctl.drill import artifacts, checks
from backupctl.drill import report as drillreport
from backupctl.drill.checks import Query, SmokeSuite
from backupctl.drill.recorder import Drill, StepFailed, guarded
from backupctl.errors import BadInput


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
    def artifacts_index(self) -> tuple[artifacts.Index, artifacts.Index, str]: ...  # step 4
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


def run(target: Target) -> dict[str, Any]:
    """Steps 1-8 over ``target``, then 10 (always, even after an error) and 9; returns the report."""
    drill = target.drill
    try:
        for step in checklist(target):
            with guarded(drill, step.number, fatal=step.fatal) as record:
                if record is not None:
                    record.detail = step.action()
    finally:
        with guarded(drill, 10, fatal=False) as record:
            if record is not None:
                record.detail = target.clean_up()
    return seal(drill, target.evidence)


def seal(drill: Drill, evidence: Evidence) -> dict[str, Any]:
    """Step 9: the report as JSON and Markdown, under Object Lock in the evidence bucket and locally."""
    with guarded(drill, 9, fatal=False) as step:
        if step is not None:
            step.detail = "JSON + Markdown"
            if evidence.bucket:
                # The sealed copy names where it is sealed; the lock details follow once written.
                keys = drillreport.evidence_keys(drill.id, drill.started_at)
                drill.evidence = {"bucket": evidence.bucket, "keys": list(keys)}
                try:
                    drill.evidence = drillreport.write_evidence(
                        evidence.s3, evidence.bucket, drill.report(), kms_key_id=evidence.kms_key_id
                    )
                except BadInput as exc:
                    drill.evidence = None
                    raise StepFailed(str(exc)) from None
                sealed = drill.evidence
                until, mode = sealed["retainUntil"][:10], sealed["lockMode"]
                step.detail += f" sealed in s3://{evidence.bucket} until {until} ({mode})"
    report = drill.report()
    json_path, md_path = drillreport.write_local(report, evidence.report_dir)
    report["localFiles"] = [str(json_path), str(md_path)]
    return report
