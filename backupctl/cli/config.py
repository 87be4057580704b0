"""`backupctl config backup|list|restore`: the daily configuration backup on demand and its restore
(runbook 1.3); the scheduled Lambda runs the same backup code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from backupctl.cli.common import audited, context, finish, live_options
from backupctl.errors import BadInput, RefusedError
from backupctl.findings import Finding, render_json

if TYPE_CHECKING:
    from backupctl.live.session import Context

CONFIG_OUTPUTS = ("environment", "region", "configBucket", "keyArns", "parameterPaths", "secretsPrefix")
SYMBOLS = {"add": "+", "change": "~", "remove": "-", "keep": "=", "retag": "~", "rotation": "~"}


def _clients(ctx: Context) -> tuple[Any, Any, Any]:
    return (
        ctx.clients.client("ssm", ctx.region),
        ctx.clients.client("secretsmanager", ctx.region),
        ctx.clients.client("s3", ctx.region),
    )


def cmd_config_backup(args: argparse.Namespace) -> int:
    from backupctl.live.configbackup import collect_stack, write_snapshot  # noqa: PLC0415

    ctx = context(args, CONFIG_OUTPUTS)
    with audited(ctx, "config backup"):
        ssm, secrets, s3 = _clients(ctx)
        snapshot = collect_stack(ssm, secrets, ctx.outputs)
        manifest = write_snapshot(s3, str(ctx.outputs["configBucket"]), ctx.config_key, snapshot)
        findings = [
            Finding(
                "PASS",
                "1.3",
                "config-backup",
                f"s3://{ctx.outputs['configBucket']}/{manifest['key']}",
                f"{manifest['parameters']} parameter(s) and {manifest['secrets']} secret(s) (metadata only), "
                f"sha256 {manifest['sha256'][:16]}...",
            ),
            *(Finding("WARN", "1.3", "config-backup", "run", p, mandatory=False) for p in snapshot.problems),
        ]
        return finish(
            ctx,
            "config backup",
            findings,
            title=f"Config backup of {ctx.environment}",
            store_audit=True,
            extra={"key": manifest["key"], "sha256": manifest["sha256"]},
        )


def cmd_config_list(args: argparse.Namespace) -> int:
    from backupctl.live.configbackup import list_snapshots  # noqa: PLC0415

    ctx = context(args, CONFIG_OUTPUTS)
    with audited(ctx, "config list"):
        refs = list_snapshots(
            ctx.clients.client("s3", ctx.region), str(ctx.outputs["configBucket"]), ctx.environment
        )
        if args.json:
            render_json(
                [
                    {"key": r.key, "createdAt": r.created_at.isoformat(), "manifest": r.manifest_key}
                    for r in refs
                ],
                sys.stdout,
            )
        else:
            print(
                f"{len(refs)} config snapshot(s) of {ctx.environment} in s3://{ctx.outputs['configBucket']}"
            )
            for r in refs:
                print(f"  {r.created_at:%Y-%m-%d %H:%M:%S}Z  {r.key}")
        return 0


def _parse_at(text: str) -> datetime:
    from backupctl.inputs import parse_time  # noqa: PLC0415

    moment = parse_time(text, "--at", "a date or time like 2026-11-28 or 2026-11-28T06:00Z")
    if len(text) == 10:  # a bare date means the end of that day
        moment = moment.replace(hour=23, minute=59, second=59)
    return moment


def _refuse_on_prod(ctx: Context) -> None:
    args = ctx.args
    if ctx.environment != "prod" or args.dry_run:
        return
    if args.prune:
        raise RefusedError(
            "config restore --prune is refused on prod: deleting live parameters needs a human"
        )
    if args.confirm != "prod":
        raise RefusedError(
            "config restore on prod changes live parameters: add --confirm prod (or --dry-run)"
        )


def _choose(ctx: Context, refs: Sequence[Any], bucket: str, at: datetime | None) -> Any:
    args = ctx.args
    if args.key:
        chosen = [r for r in refs if r.key == args.key]
        if not chosen:
            raise BadInput("--key", f"a snapshot key under s3://{bucket}/config/{ctx.environment}/", args.key)
    else:
        chosen = [r for r in refs if at is None or r.created_at <= at]
        if not chosen:
            raise BadInput("--at" if at else "config bucket", "a snapshot at or before that time", "none")
    return chosen[-1]


def _print_restore(ctx: Context, key: str, changes: Sequence[Any], pending: int, applied: int) -> None:
    dry = ctx.args.dry_run
    where = f"s3://{ctx.outputs['configBucket']}/{key}"
    print(f"Restore of {ctx.environment} config from {where} (checksum verified)")
    for c in changes:
        print(f"  {SYMBOLS.get(c.action, '!')} {c.kind:<9} {c.name}  {c.detail}")
    if not changes:
        print("  live configuration already matches the snapshot")
    print(f"{'would apply' if dry else 'applied'} {pending if dry else applied} change(s)")
    needs_value = [c.name for c in changes if c.action == "needs-value"]
    if needs_value:
        print(f"values to re-supply by hand (never stored): {', '.join(needs_value)}")


def cmd_config_restore(args: argparse.Namespace) -> int:
    from backupctl.live import configbackup  # noqa: PLC0415

    at = _parse_at(args.at) if args.at else None  # input first, before anything is read
    ctx = context(args, CONFIG_OUTPUTS)
    with audited(ctx, "config restore"):
        _refuse_on_prod(ctx)
        ssm, secrets, s3 = _clients(ctx)
        bucket = str(ctx.outputs["configBucket"])
        ref = _choose(ctx, configbackup.list_snapshots(s3, bucket, ctx.environment), bucket, at)
        try:
            document, _manifest = configbackup.load_snapshot(s3, bucket, ref)
        except configbackup.SnapshotRefused as exc:
            raise RefusedError(str(exc)) from None
        changes = configbackup.plan_restore(
            document, configbackup.collect_stack(ssm, secrets, ctx.outputs), prune=args.prune
        )
        applied = 0 if args.dry_run else configbackup.apply_restore(changes, document, ssm, secrets)
        needs_value = [c.name for c in changes if c.action == "needs-value"]
        pending = sum(c.apply for c in changes)
        if not args.json:
            _print_restore(ctx, ref.key, changes, pending, applied)
        message = f"{pending} change(s), {len(needs_value)} value(s) to re-supply"
        message = f"dry run: {message}" if args.dry_run else message
        extra = {
            "snapshot": ref.key,
            "dryRun": args.dry_run,
            "applied": applied,
            "changes": [c.to_dict() for c in changes],
            "needsValue": needs_value,
        }
        findings = [Finding("PASS", "1.3", "config-restore", ref.key, message)]
        return finish(ctx, "config restore", findings, title="", store_audit=True, extra=extra, table=False)


def register(sub: Any) -> None:
    common = live_options()
    config = sub.add_parser(
        "config",
        help="daily config backup and restore (runbook 1.3)",
        description="Back up, list and restore the stack's configuration (SSM parameters and secrets "
        "metadata) in its config bucket (runbook 1.3).",
    ).add_subparsers(dest="config_command", required=True, metavar="ACTION")
    p = config.add_parser(
        "backup",
        parents=[common],
        help="snapshot SSM parameters and secrets metadata to the config bucket",
        description="Snapshot policies and routing pins (SSM parameters under the stack's paths) and "
        "secrets metadata (never values) into the config bucket with a SHA-256 manifest, SSE-KMS.",
    )
    p.set_defaults(handler=cmd_config_backup)
    p = config.add_parser(
        "list",
        parents=[common],
        help="list config snapshots in the config bucket",
        description="List the config snapshots in the stack's config bucket with their creation times "
        "(--json: and their manifests' keys).",
    )
    p.set_defaults(handler=cmd_config_list)
    p = config.add_parser(
        "restore",
        parents=[common],
        help="diff a snapshot against live parameters and apply it",
        description="Verify the snapshot's checksum, show the diff (added/changed/removed) and apply it. "
        "Live parameters missing from the snapshot are kept unless --prune. Secrets get metadata only "
        "(tags, rotation); the report lists values to re-supply. Prod needs --confirm prod; --prune is "
        "refused on prod.",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--at", help="newest snapshot at or before this date/time (default: the newest)")
    which.add_argument("--key", help="an exact snapshot key (see `config list`)")
    p.add_argument("--dry-run", action="store_true", help="show the diff, change nothing")
    p.add_argument(
        "--prune", action="store_true", help="also delete live parameters absent from the snapshot"
    )
    p.add_argument("--confirm", help="type the environment name to restore into prod")
    p.set_defaults(handler=cmd_config_restore)
