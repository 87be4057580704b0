"""The operations audit trail (runbook 4): one JSON line per command run (who, what, when, result).

Lines go to stderr, or are appended to ``--audit-log FILE``; config and kms runs also store a copy in the
config bucket under ``config/<env>/audit/``. Records carry names, counts and results, never values.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backupctl.errors import BadInput, Interrupted, RefusedError, signals_held
from backupctl.files import append_line

AUDIT_SCHEMA = "maestro-backup/audit@1"


def actor(clients: Any = None) -> str:
    """The caller's IAM identity when known, else the local user (CI runners set GITHUB_ACTOR)."""
    if clients is not None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            return str(clients.client("sts").get_caller_identity()["Arn"])
        except (BotoCoreError, ClientError):
            pass  # the audit line must not fail the command it records; fall back to the local user
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return os.environ.get("GITHUB_ACTOR", user)


def record(
    command: str, *, stack: str | None, result: str, who: str, started: datetime, **details: Any
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "schema": AUDIT_SCHEMA,
        "time": now.isoformat(),
        "who": who,
        "command": command,
        "stack": stack,
        "result": result,
        "durationSeconds": round((now - started).total_seconds(), 3),
        **details,
    }


def emit(entry: dict[str, Any], audit_log: str | None) -> None:
    line = json.dumps(entry, default=str, sort_keys=True)
    if not audit_log:
        print(line, file=sys.stderr)
        return
    append_line(audit_log, line, "--audit-log")


def audit_key(environment: str, entry: dict[str, Any]) -> str:
    moment = datetime.fromisoformat(entry["time"])
    command = str(entry["command"]).replace(" ", "-")
    return f"config/{environment}/audit/{moment:%Y-%m-%d}/{moment:%Y%m%dT%H%M%S%fZ}-{command}.json"


def outcome(exc: BaseException) -> tuple[str, str]:
    """How a run that did not finish normally is recorded: (result, reason). Reasons name what was
    refused and why, or the error's kind; they never carry a value that was read."""
    if isinstance(exc, RefusedError):
        return "refused", str(exc)
    if isinstance(exc, BadInput):
        return "error", str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", "SIGINT"
    if isinstance(exc, Interrupted):
        return "interrupted", signal.Signals(exc.signum).name
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    if isinstance(exc, ClientError):
        return "error", f"AWS {exc.response.get('Error', {}).get('Code', 'error')}"
    if isinstance(exc, BotoCoreError):
        return "error", f"AWS {type(exc).__name__}"
    return "error", type(exc).__name__


@dataclass
class Run:
    """One command run being audited; ``stack`` is filled in once the stack is known."""

    command: str
    audit_log: str | None
    stack: str | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    details: dict[str, Any] = field(default_factory=dict)  # names and counts known so far (a drill id)


@contextlib.contextmanager
def recorded(run: Run) -> Iterator[Run]:
    """Writes the audit record of a run that ends in a refusal, an error or a signal, then re-raises
    (runbook 4: every backup and restore operation is audited, the ones that did not happen too)."""
    try:
        yield run
    except BaseException as exc:
        result, reason = outcome(exc)
        # The record must never hide the error it records, nor be lost to a second Ctrl-C.
        with signals_held(), contextlib.suppress(Exception):
            emit(
                record(
                    run.command,
                    stack=run.stack,
                    result=result,
                    who=actor(),
                    started=run.started,
                    reason=reason,
                    **run.details,
                ),
                run.audit_log,
            )
        raise
