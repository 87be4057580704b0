"""The sealed drill report (runbook 2.1 step 9): JSON for machines, Markdown with a Mermaid gantt for
reviewers, kept in a local directory and in the evidence bucket under ``evidence/drills/<date>/`` with
an Object Lock retention, so a finished drill's evidence cannot be edited or deleted before it expires.
``history`` reads past reports back for the quarter-on-quarter trend.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from backupctl.errors import BadInput
from backupctl.files import check_directory, write_atomic, write_json
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
        f"- Backup used: {report['backup'].get('description', 'none')}",
        f"- Why: {report['backup'].get('why', '')}",
        f"- Point in time: {report.get('pointInTime') or 'n/a'}; newest transaction found: "
        f"{report.get('newestTransaction') or 'n/a'}",
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


def write_evidence(
    s3: Any, bucket: str, report: dict[str, Any], *, kms_key_id: str | None = None
) -> dict[str, Any]:
    """Stores JSON and Markdown under Object Lock; returns where and until when."""
    lock = lock_of(s3, bucket)
    if lock is None:
        raise BadInput(f"evidence bucket {bucket}", "Object Lock with a default retention", "none")
    mode, days = lock
    until = datetime.now(UTC) + timedelta(days=days)
    extra: dict[str, Any] = {"ObjectLockMode": mode, "ObjectLockRetainUntilDate": until}
    if kms_key_id:
        extra |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
    json_key, md_key = evidence_keys(report["drillId"], datetime.fromisoformat(report["startedAt"]))
    for key, body, kind in (
        (json_key, json.dumps(report, indent=2, default=str).encode(), "application/json"),
        (md_key, markdown(report).encode(), "text/markdown"),
    ):
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=kind, **extra)
    return {"bucket": bucket, "keys": [json_key, md_key], "lockMode": mode, "retainUntil": until.isoformat()}


def _row(report: dict[str, Any], where: str) -> dict[str, Any]:
    return {
        "drillId": report.get("drillId"),
        "startedAt": report.get("startedAt"),
        "mode": report.get("mode"),
        "source": report.get("source"),
        "result": report.get("result"),
        "rtoSeconds": report.get("rtoSeconds"),
        "rtoTargetMinutes": report.get("targets", {}).get("rtoMinutes"),
        "rtoMet": report.get("rtoMet"),
        "rpoSeconds": report.get("rpoSeconds"),
        "rpoTargetMinutes": report.get("targets", {}).get("rpoMinutes"),
        "rpoMet": report.get("rpoMet"),
        "where": where,
    }


def history_from_bucket(s3: Any, bucket: str) -> list[dict[str, Any]]:
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{EVIDENCE_PREFIX}/"):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".json"):
                report = json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
                if report.get("schema") == REPORT_SCHEMA:
                    rows.append(_row(report, f"s3://{bucket}/{obj['Key']}"))
    return sorted(rows, key=lambda r: str(r["startedAt"]))


def history_from_dir(directory: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(report, dict) and report.get("schema") == REPORT_SCHEMA:
            rows.append(_row(report, str(path)))
    return sorted(rows, key=lambda r: str(r["startedAt"]))


def render_history(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no drill reports found\n"
    out = [
        f"{'started':<20} {'drill':<30} {'mode':<6} {'result':<6} {'RTO / target':<22} {'RPO / target':<22}"
    ]
    for r in rows:
        rto = f"{_minutes(r['rtoSeconds'])} / {r['rtoTargetMinutes']} min{'' if r['rtoMet'] else ' MISSED'}"
        rpo = f"{_minutes(r['rpoSeconds'])} / {r['rpoTargetMinutes']} min{'' if r['rpoMet'] else ' MISSED'}"
        started = str(r["startedAt"])[:19]
        out.append(f"{started:<20} {r['drillId']:<30} {r['mode']:<6} {r['result']:<6} {rto:<22} {rpo:<22}")
    return "\n".join(out) + "\n"
