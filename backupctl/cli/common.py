"""What every command group shares: the project directory, JSON files, the live commands' options and
the one way a live command ends (findings printed as a table or JSON, its audit record written)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backupctl.findings import Finding, exit_code, render_json, render_table, summary
from backupctl.live import audit

if TYPE_CHECKING:  # boto3 and botocore are imported only by the commands that talk to AWS
    from backupctl.live.session import Context


def project_dir(args: argparse.Namespace) -> Path:
    from backupctl.offline.stackconfig import find_project_dir  # noqa: PLC0415

    return find_project_dir(Path(args.project_dir)) if args.project_dir else find_project_dir()


def context(args: argparse.Namespace, required: Any) -> Context:
    """The live commands' session and stack outputs (backupctl.live.session.context, imported on use so
    that the offline commands start without boto)."""
    from backupctl.live.session import context as make  # noqa: PLC0415

    return make(args, required)


MAX_JOBS = 64  # --jobs of drill and backup db: workers for pg_dump, pg_restore and checksums


def live_options(*, stack: bool = True) -> argparse.ArgumentParser:
    """The options of commands that talk to AWS; ``stack=False`` for one that names its own bucket."""
    common = argparse.ArgumentParser(add_help=False)
    if stack:
        common.add_argument(
            "--stack", help="stack name (outputs via `pulumi stack output --json` when on PATH)"
        )
        common.add_argument("--outputs", help="a saved `pulumi stack output --json` file, or - for stdin")
        common.add_argument("--region", help="must match the stack's region (default: the stack's region)")
    else:
        common.add_argument("--region", help="the bucket's region (default: the standard AWS configuration)")
    common.add_argument("--profile", help="AWS profile (default: the standard credential chain)")
    common.add_argument("--endpoint-url", help="AWS endpoint override (moto server, LocalStack)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--audit-log", help="append the JSON-lines audit record here (default: stderr)")
    return common


def audited(ctx: Context, command: str) -> contextlib.AbstractContextManager[audit.Run]:
    """``with audited(ctx, "config restore"):`` records a refusal, error or signal in the audit trail."""
    return audit.recorded(audit.Run(command, ctx.args.audit_log, ctx.environment, ctx.started))


def finish(
    ctx: Context,
    command: str,
    findings: list[Finding],
    *,
    title: str,
    store_audit: bool = False,
    extra: dict[str, Any] | None = None,
    table: bool = True,
) -> int:
    """Print the findings, write the audit record (runbook 4) and return the exit code."""
    code = exit_code(findings)
    if ctx.args.json:
        render_json(
            {
                "stack": ctx.environment,
                "summary": summary(findings),
                "findings": [f.to_dict() for f in findings],
                **(extra or {}),
            },
            sys.stdout,
        )
    elif table:
        render_table(findings, sys.stdout, title=title, verbose=True)
    entry = audit.record(
        command,
        stack=ctx.environment,
        result="fail" if code else "pass",
        who=audit.actor(ctx.clients),
        started=ctx.started,
        summary=summary(findings),
        **(extra or {}),
    )
    audit.emit(entry, ctx.args.audit_log)
    if store_audit:
        from backupctl.live.aws import S3  # noqa: PLC0415

        S3(ctx.clients, ctx.region).put_bytes(
            str(ctx.outputs["configBucket"]),
            audit.audit_key(ctx.environment, entry),
            json.dumps(entry, default=str).encode(),
            kms_key_id=ctx.config_key,
        )
    return code
