"""`backupctl verify`: the deployed account against the runbook (sections 1.1-1.3, 3)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from backupctl.cli.common import audited, context, finish, live_options


def cmd_verify(args: argparse.Namespace) -> int:
    from backupctl.live.verify import REQUIRED_OUTPUTS, gather, verify  # noqa: PLC0415

    ctx = context(args, REQUIRED_OUTPUTS)
    with audited(ctx, "verify"):
        print(f"verifying {ctx.environment} in {ctx.region} ...", file=sys.stderr)
        findings = verify(ctx.outputs, gather(ctx.outputs, ctx.clients))
        return finish(
            ctx, "verify", findings, title=f"Live verification of {ctx.environment} against the runbook"
        )


def register(sub: Any) -> None:
    p = sub.add_parser(
        "verify",
        parents=[live_options()],
        help="check the live account against the runbook",
        description="Read the stack outputs and check the deployed account: backup retention, PITR "
        "within each database's RPO, a snapshot newer than 26 h, weekly recovery points kept >= 30 d, "
        "vault encryption and lock, bucket versioning and encryption, the artifacts lifecycle, evidence "
        "Object Lock, key rotation, schedules. Exit 0 clean, 1 a check failed, 2 bad input.",
    )
    p.set_defaults(handler=cmd_verify)
