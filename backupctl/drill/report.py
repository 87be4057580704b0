"""The sealed drill report (runbook 2.1 step 9): JSON for machines, Markdown with a Mermaid gantt for
reviewers, kept in a local directory and in the evidence bucket under ``evidence/drills/<date>/`` with
an Object Lock retention, so a finished drill's evidence cannot be edited or deleted before it expires.
``History`` reads past reports back, per database, with the quarter-on-quarter trend; a file that is
not a readable report is listed as skipped, with why, never silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from backupctl.errors import BadInput
from backupctl.files import check_directory, parse_json, read_text, write_atomic, write_json
from backupctl.live.aws import error_code

REPORT_SCHEMA = "maestro-backup/drill-report@1"
EVIDENCE_PREFIX = "evidence/drills"


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _minutes(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def markdown(report: dict[str, Any]) -> str:
    t = report["targets"]
    lines = [
        f"# Restore drill {report['drillId']}: {report['result']}",
        "",
        f"- Mode: {report['mode']}; stack: {report.get('stack') or 'none'}; source: `{report['source']}` "
        f"({report['criticality']})",
        f"- Started {report['startedAt']}, finished {report['finishedAt']}",
        f"- Backup used: {report['backup'].get('description', 'none')}"
        + (
            f" ({_minutes(report['backup']['ageSeconds'])} old)" if report["backup"].get("ageSeconds") else ""
        ),
        f"- Why: {report['backup'].get('why', '')}",
        f"- Point in time: {report.get('pointInTime') or 'n/a'}; newest transaction found: "
        f"{report.get('newestTransaction') or 'n/a'}",
        *_stopped_and_sealed(report),
        "",
        "## RTO / RPO against runbook 2.2",
        "",
        "| | measured | target | met |",
        "|---|---|---|---|",
        f"| RTO (start to smoke pass) | {_minutes(report['rtoSeconds'])} | {t['rtoMinutes']} min | "
        f"{'yes' if report['rtoMet'] else 'NO'} |",
        f"| RPO (target point to newest restored write) | {_minutes(report['rpoSeconds'])} | "
        f"{t['rpoMinutes']} min | {'yes' if report['rpoMet'] else 'NO'} |",
        "",
        "## Steps",
        "",
        "| # | step | result | seconds | detail |",
        "|---|---|---|---|---|",
    ]
    for s in report["steps"]:
        detail = str(s["detail"]).replace("|", "\\|").replace("\n", " ")
        if s.get("log"):
            detail += f" (log: `{s['log']}`)"
        lines.append(f"| {s['number']} | {s['title']} | {s['status']} | {s['seconds']:.1f} | {detail} |")
    lines += ["", "## Timeline", "", "```mermaid", "gantt", f"  title Restore drill {report['drillId']}"]
    lines += ["  dateFormat x", "  axisFormat %H:%M:%S", "  section Checklist"]
    for s in report["steps"]:
        if s["status"] == "SKIP":
            continue
        tag = "crit, " if s["status"] == "FAIL" else "done, "
        end = max(_ms(s["finishedAt"]), _ms(s["startedAt"]) + 1)
        title = s["title"].replace(":", " ")
        lines.append(f"  {s['number']} {title} :{tag}s{s['number']}, {_ms(s['startedAt'])}, {end}")
    lines += ["```", "", "## Findings", ""]
    for f in report["findings"]:
        lines.append(f"- **{f['status']}** `{f['check']}` {f['resource']}: {f['message']}")
    if not report["findings"]:
        lines.append("- none")
    return "\n".join(lines) + "\n"


def _stopped_and_sealed(report: dict[str, Any]) -> list[str]:
    lines = []
    stopped = report.get("stoppedAt")
    if stopped:
        lines.append(f"- Stopped in step {stopped['step']} ({stopped['title']}): {stopped['reason']}")
    evidence = report.get("evidence") or {}
    if evidence.get("sealed"):
        lines.append(
            f"- Evidence: sealed in s3://{evidence['bucket']} ({evidence['lockMode']} until "
            f"{evidence['retainUntil'][:10]})"
        )
    else:
        lines.append(
            f"- Evidence: NOT sealed ({evidence.get('reason', 'not attempted')}); this file is local"
        )
    return lines


def write_local(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    check_directory(directory, "--report-dir")
    json_path = write_json(directory / f"{report['drillId']}.json", report, "--report-dir")
    md_path = write_atomic(directory / f"{report['drillId']}.md", markdown(report), "--report-dir")
    return json_path, md_path


def evidence_keys(drill_id: str, started_at: datetime) -> tuple[str, str]:
    base = f"{EVIDENCE_PREFIX}/{started_at:%Y-%m-%d}/{drill_id}"
    return f"{base}.json", f"{base}.md"


def lock_of(s3: Any, bucket: str) -> tuple[str, int] | None:
    """The bucket's default Object Lock retention (mode, days), or None when it has none."""
    try:
        config = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError as exc:
        if error_code(exc) in ("ObjectLockConfigurationNotFoundError", "NoSuchBucket"):
            return None
        raise
    retention = config.get("Rule", {}).get("DefaultRetention", {})
    days = int(retention.get("Days", 0)) or int(retention.get("Years", 0)) * 365
    return (str(retention["Mode"]), days) if retention.get("Mode") and days else None


def check_evidence_bucket(s3: Any, bucket: str, what: str) -> tuple[str, int]:
    """Before any work: the evidence bucket answers and has a default Object Lock retention."""
    from botocore.exceptions import BotoCoreError  # noqa: PLC0415

    try:
        lock = lock_of(s3, bucket)
    except ClientError as exc:
        raise BadInput(f"{what} {bucket}", "an Object Lock bucket you can write", error_code(exc)) from None
    except BotoCoreError as exc:
        raise BadInput(f"{what} {bucket}", "a reachable S3 endpoint", " ".join(str(exc).split())) from None
    if lock is None:
        raise BadInput(f"{what} {bucket}", "a bucket with a default Object Lock retention", "none")
    return lock


def write_evidence(
    s3: Any,
    bucket: str,
    keys: tuple[str, str],
    report_for: Callable[[dict[str, Any]], dict[str, Any]],
    written: list[str],
    *,
    kms_key_id: str | None = None,
) -> dict[str, Any]:
    """Stores the report as Markdown, then JSON, under Object Lock at ``keys`` (``evidence_keys``);
    returns where and until when.
    ``report_for(evidence)`` renders the report naming that evidence. ``written`` collects each key once
    it is stored, so a failure part-way leaves an honest list; the JSON goes last, so a stored JSON copy
    always has its Markdown beside it."""
    lock = lock_of(s3, bucket)
    if lock is None:
        raise BadInput(f"evidence bucket {bucket}", "Object Lock with a default retention", "none")
    mode, days = lock
    until = datetime.now(UTC) + timedelta(days=days)
    extra: dict[str, Any] = {"ObjectLockMode": mode, "ObjectLockRetainUntilDate": until}
    if kms_key_id:
        extra |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
    json_key, md_key = keys  # evidence_keys(...) of the drill
    sealed = {
        "sealed": True,
        "bucket": bucket,
        "keys": [json_key, md_key],
        "lockMode": mode,
        "retainUntil": until.isoformat(),
    }
    report = report_for(sealed)
    for key, body, kind in (
        (md_key, markdown(report).encode(), "text/markdown"),
        (json_key, json.dumps(report, indent=2, default=str).encode(), "application/json"),
    ):
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind, **extra)
        written.append(key)
    return sealed


def _quarter(started: str) -> str:
    moment = datetime.fromisoformat(started)
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def _row(report: dict[str, Any], where: str) -> dict[str, Any]:
    """A report as one history row; ``ValueError`` naming the field when it is not a drill report."""
    targets, backup = report.get("targets"), report.get("backup") or {}
    if not isinstance(targets, dict) or not isinstance(backup, dict):
        raise ValueError("field targets or backup is not an object")
    started = report.get("startedAt")
    if not isinstance(started, str):
        raise ValueError("field startedAt is missing")
    try:
        quarter = _quarter(started)
    except ValueError:
        raise ValueError(f"field startedAt is not a time: {started[:40]}") from None
    return {
        "drillId": str(report.get("drillId")),
        "startedAt": started,
        "quarter": quarter,
        "database": str(report.get("database") or report.get("source")),
        "mode": str(report.get("mode")),
        "result": str(report.get("result")),
        "stoppedAt": report.get("stoppedAt"),
        "backup": backup.get("id"),
        "backupAgeSeconds": backup.get("ageSeconds"),
        "rtoSeconds": report.get("rtoSeconds"),
        "rtoTargetMinutes": targets.get("rtoMinutes"),
        "rtoMet": report.get("rtoMet"),
        "rpoSeconds": report.get("rpoSeconds"),
        "rpoTargetMinutes": targets.get("rpoMinutes"),
        "rpoMet": report.get("rpoMet"),
        "where": where,
    }


@dataclass
class History:
    """Past drills as rows, and the files that could not be read as reports (with why)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def add(self, text: str, where: str) -> None:
        try:
            report = parse_json(text, where, "a drill report")
        except BadInput as exc:
            self.skipped.append({"where": where, "reason": str(exc)})
            return
        if not isinstance(report, dict) or report.get("schema") != REPORT_SCHEMA:
            return  # another JSON file in the same place: not ours, not a problem
        try:
            self.rows.append(_row(report, where))
        except ValueError as exc:
            self.skipped.append({"where": where, "reason": f"{where}: not a drill report: {exc}"})

    def sorted_rows(self) -> list[dict[str, Any]]:
        return sorted(self.rows, key=lambda r: (r["database"], r["startedAt"]))


def history_from_bucket(s3: Any, bucket: str, history: History) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{EVIDENCE_PREFIX}/"):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".json"):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                where = f"s3://{bucket}/{obj['Key']}"
                try:
                    history.add(body.decode("utf-8"), where)
                except UnicodeDecodeError as exc:
                    history.skipped.append({"where": where, "reason": f"{where}: not UTF-8 at {exc.start}"})


def history_from_dir(directory: Path, history: History) -> None:
    """Every report in ``directory``; a missing or unreadable directory is bad input."""
    check_directory(directory, "--report-dir", create=False)
    try:
        paths = sorted(directory.glob("*.json"))
    except OSError as exc:
        raise BadInput(
            f"--report-dir {directory}", "a readable directory", exc.strerror or str(exc)
        ) from None
    for path in paths:
        try:
            history.add(read_text(path, "report"), str(path))
        except BadInput as exc:
            history.skipped.append({"where": str(path), "reason": str(exc)})


def _worst(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return max(values) if values else None


def trend(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per database and quarter: drills, passes, the worst RTO/RPO against target, and whether the
    worst got better or worse than the quarter before (runbook 2: the quarter-on-quarter trend)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["database"], row["quarter"]), []).append(row)
    out: list[dict[str, Any]] = []
    previous: dict[str, dict[str, Any]] = {}
    for (database, quarter), group in sorted(groups.items()):
        entry = {
            "database": database,
            "quarter": quarter,
            "drills": len(group),
            "passed": sum(1 for r in group if r["result"] == "PASS"),
            "worstRtoSeconds": _worst(group, "rtoSeconds"),
            "rtoTargetMinutes": group[-1]["rtoTargetMinutes"],
            "worstRpoSeconds": _worst(group, "rpoSeconds"),
            "rpoTargetMinutes": group[-1]["rpoTargetMinutes"],
            "allMet": all(r["rtoMet"] and r["rpoMet"] for r in group),
        }
        before = previous.get(database)
        for key, name in (("worstRtoSeconds", "rtoTrend"), ("worstRpoSeconds", "rpoTrend")):
            then, now = (before or {}).get(key), entry[key]
            entry[name] = (
                "first"
                if before is None
                else "n/a"
                if then is None or now is None
                else "better"
                if now < then
                else "worse"
                if now > then
                else "same"
            )
        previous[database] = entry
        out.append(entry)
    return out


def _against(seconds: Any, target: Any, met: Any) -> str:
    return f"{_minutes(seconds)} / {target} min{'' if met else ' MISSED'}"


def render_history(history: History) -> str:
    rows = history.sorted_rows()
    if not rows:
        return "no drill reports found\n"
    out = ["Drills by database (oldest first)"]
    header = (
        f"  {'started':<20} {'drill':<30} {'result':<11} {'RTO / target':<22} {'RPO / target':<22} "
        "backup (age)"
    )
    for database in dict.fromkeys(r["database"] for r in rows):
        out += ["", f"{database}", header]
        for r in (r for r in rows if r["database"] == database):
            backup = r["backup"] or "none"
            age = f" ({_minutes(r['backupAgeSeconds'])} old)" if r["backupAgeSeconds"] is not None else ""
            out.append(
                f"  {str(r['startedAt'])[:19]:<20} {r['drillId']:<30} {r['result']:<11} "
                f"{_against(r['rtoSeconds'], r['rtoTargetMinutes'], r['rtoMet']):<22} "
                f"{_against(r['rpoSeconds'], r['rpoTargetMinutes'], r['rpoMet']):<22} {backup}{age}"
            )
    out += ["", "Trend by quarter (worst of the quarter against target; trend against the quarter before)"]
    out.append(f"  {'database':<24} {'quarter':<8} {'passed':<8} {'worst RTO':<30} {'worst RPO':<30}")
    for t in trend(rows):
        rto = f"{_against(t['worstRtoSeconds'], t['rtoTargetMinutes'], True)} {t['rtoTrend']}"
        rpo = f"{_against(t['worstRpoSeconds'], t['rpoTargetMinutes'], True)} {t['rpoTrend']}"
        passed = f"{t['passed']}/{t['drills']}"
        out.append(f"  {t['database']:<24} {t['quarter']:<8} {passed:<8} {rto:<30} {rpo:<30}")
    return "\n".join(out) + "\n"
