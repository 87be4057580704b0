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

    @classmethod
    def judge(cls, ok: object, section: str, check: str, resource: str, message: str) -> Finding:
        """PASS when ``ok``, else a mandatory FAIL: the one place a check's verdict becomes a status."""
        return cls("PASS" if ok else "FAIL", section, check, resource, message)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def days(n: object) -> str:
    """``1 day``, ``7 days``: counts in messages read as English."""
    return f"{n} day" if str(n) in ("1", "-1") else f"{n} days"


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
        rows = [f for f in findings if f.section == section]
        out.write(f"\n  Runbook {section}\n")
        for check in dict.fromkeys(f.check for f in rows):
            mine = [f for f in rows if f.check == check]
            failed = [f for f in mine if f.status != "PASS"]
            if not verbose and not failed:
                out.write(f"    PASS  {check:<44} {len(mine)} resource(s)\n")
                continue
            for f in mine if verbose else failed:
                out.write(f"    {f.status:<4}  {check:<44} {_short(f.resource)}\n          {f.message}\n")
    counts = summary(findings)
    out.write(
        f"\n  {counts['PASS']} passed, {counts['FAIL']} failed, {counts['WARN']} warnings, "
        f"{counts['SKIP']} skipped\n"
    )


def render_json(payload: object, out: TextIO) -> None:
    json.dump(payload, out, indent=2, sort_keys=False, default=str)
    out.write("\n")
