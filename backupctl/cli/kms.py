"""`backupctl kms validate|rotate-now`: KMS post-rotation validation (runbook 3); the monthly Lambda runs
the same validation."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from backupctl.cli.common import audited, context, finish, live_options
from backupctl.errors import BadInput
from backupctl.findings import Finding
from backupctl.live.outputs import key_arns

if TYPE_CHECKING:
    from backupctl.live.session import Context

KMS_OUTPUTS = ("environment", "region", "configBucket", "keyArns")


def _key_arns(ctx: Context, purpose: str | None) -> dict[str, str]:
    """The stack's keys (``key_arns``), or the one ``--key`` names."""
    arns = key_arns(ctx.outputs)
    if purpose is None:
        return arns
    if purpose not in arns:
        raise BadInput("--key", f"one of {', '.join(sorted(arns))}", purpose)
    return {purpose: arns[purpose]}


def _validate(ctx: Context, arns: dict[str, str]) -> list[Finding]:
    from backupctl.live.aws import S3, Kms  # noqa: PLC0415
    from backupctl.live.kmscheck import KeyValidation  # noqa: PLC0415

    return KeyValidation(
        Kms(ctx.clients, ctx.region),
        S3(ctx.clients, ctx.region),
        environment=ctx.environment,
        bucket=str(ctx.outputs["configBucket"]),
        config_key_arn=ctx.config_key,
    ).run(arns)


def cmd_kms_validate(args: argparse.Namespace) -> int:
    ctx = context(args, KMS_OUTPUTS)
    arns = _key_arns(ctx, args.key)  # input first, before any key is touched
    with audited(ctx, "kms validate"):
        findings = _validate(ctx, arns)
        return finish(
            ctx, "kms validate", findings, title=f"KMS validation of {ctx.environment}", store_audit=True
        )


def cmd_kms_rotate_now(args: argparse.Namespace) -> int:
    ctx = context(args, KMS_OUTPUTS)
    arns = _key_arns(ctx, args.key)
    with audited(ctx, "kms rotate-now"):
        from backupctl.live.aws import Kms  # noqa: PLC0415

        kms = Kms(ctx.clients, ctx.region)
        for purpose, arn in arns.items():
            print(f"rotating the {purpose} key {arn} now ...", file=sys.stderr)
            kms.rotate_now(arn)
        findings = _validate(ctx, arns)
        return finish(
            ctx,
            "kms rotate-now",
            findings,
            title=f"KMS rotation and validation of {ctx.environment}",
            store_audit=True,
            extra={"rotated": sorted(arns)},
        )


def register(sub: Any) -> None:
    common = live_options()
    kms = sub.add_parser(
        "kms",
        help="KMS post-rotation validation (runbook 3)",
        description="Validate the stack's customer-managed keys after rotation, or rotate them on demand "
        "and validate (runbook 3).",
    ).add_subparsers(dest="kms_command", required=True, metavar="ACTION")
    for name, handler, text in (
        ("validate", cmd_kms_validate, "validate every CMK: rotation, history, round trip, canary decrypt"),
        ("rotate-now", cmd_kms_rotate_now, "rotate keys on demand, then validate them"),
    ):
        p = kms.add_parser(name, parents=[common], help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument(
            "--key",
            help="only this key purpose (rds, backup, storage, config, logs; rds-dr ... in the DR region)",
        )
        p.set_defaults(handler=handler)
