"""Findings are data; one printer renders them as a table grouped by runbook section, or as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal, TextIO

Status = Literal["PASS", "FAIL", "WARN", "SKIP"]


@dataclass(frozen=True)
class Finding:
    status: Status
    section: str  # runbook section, e.g. "1.1"
    check: str  # policy or check name
    resource: str  # URN, ARN or name
    message: str
    mandatory: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def summary(findings: Sequence[Finding]) -> dict[str, int]:
    counts = {"PASS": 0, "FAIL": 0, "WARN": 0, "SKIP": 0}
    for finding in findings:
        counts[finding.status] += 1
    return counts


def exit_code(findings: Iterable[Finding]) -> int:
    """0 clean, 1 when a mandatory check failed (advisory failures only warn)."""
    return 1 if any(f.status == "FAIL" and f.mandatory for f in findings) else 0


def _short(resource: str) -> str:
    return resource.rsplit("::", 1)[-1] if resource.startswith("urn:") else resource


def render_table(findings: Sequence[Finding], out: TextIO, *, title: str = "", verbose: bool = True) -> None:
    if title:
        out.write(f"{title}\n")
    for section in sorted(
        {f.section for f in findings}, key=lambda s: [int(p) for p in s.split(".") if p.isdigit()]
    ):
        rows = [f for f in findings if f.section == section and (verbose or f.status != "PASS")]
        if not rows:
            continue
        out.write(f"\n  Runbook {section}\n")
        for f in rows:
            out.write(f"    {f.status:<4}  {f.check:<44} {_short(f.resource)}\n")
            if f.status != "PASS" or verbose:
                out.write(f"          {f.message}\n")
    counts = summary(findings)
    out.write(
        f"\n  {counts['PASS']} passed, {counts['FAIL']} failed, {counts['WARN']} warnings, "
        f"{counts['SKIP']} skipped\n"
    )


def render_json(payload: object, out: TextIO) -> None:
    json.dump(payload, out, indent=2, sort_keys=False, default=str)
    out.write("\n")
