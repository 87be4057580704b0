"""Where a live command runs: the stack outputs it read, one boto3 session in the stack's region and the
moment it started (runbook 1-4 operations; every command's audit record names these)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backupctl.errors import BadInput
from backupctl.files import check_writable
from backupctl.live.aws import Clients
from backupctl.live.outputs import check_region, load_outputs, require


@dataclass
class Context:
    args: argparse.Namespace
    outputs: dict[str, Any]
    clients: Clients
    region: str
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def environment(self) -> str:
        return str(self.outputs["environment"])

    @property
    def config_key(self) -> str | None:
        return self.outputs["keyArns"].get("config")


def session_for(args: argparse.Namespace, region: str) -> Clients:
    import boto3  # noqa: PLC0415
    from botocore.exceptions import ProfileNotFound  # noqa: PLC0415

    try:
        session = boto3.Session(profile_name=args.profile, region_name=region)
    except ProfileNotFound:
        raise BadInput("--profile", "a profile in ~/.aws/config", args.profile) from None
    return Clients(session, args.endpoint_url)


def context(args: argparse.Namespace, needed: tuple[str, ...]) -> Context:
    if getattr(args, "audit_log", None):
        check_writable(args.audit_log, "--audit-log")  # refused before any work, not after it
    outputs, source = load_outputs(args.stack, args.outputs)
    require(outputs, needed, source)
    if args.stack and outputs.get("environment") and args.stack != outputs["environment"]:
        # Stack names and environments are the same words in this project; a mismatch is a wrong file.
        raise BadInput(f"{source}: output `environment`", f"the stack {args.stack}", outputs["environment"])
    region = check_region(outputs, args.region)
    return Context(args, outputs, session_for(args, region), region)
