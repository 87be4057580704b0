"""The live sub-commands: verify, config backup/list/restore, kms validate/rotate-now (runbook 1-4).

Each reads the stack outputs, builds one boto3 session for the stack's region, runs plain business logic,
prints findings through the one printer (table or --json) and writes a JSON-lines audit record.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from backupctl import audit
from backupctl.aws import S3, Clients, Kms
from backupctl.errors import BadInput, RefusedError
from backupctl.outputs import check_region, load_outputs, require
from backupctl.report import Finding, exit_code, render_json, render_table, summary

CONFIG_OUTPUTS = ("environment", "region", "configBucket", "keyArns", "parameterPaths", "secretsPrefix")
KMS_OUTPUTS = ("environment", "region", "configBucket", "keyArns")


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
    outputs, source = load_outputs(args.stack, args.outputs)
    require(outputs, needed, source)
    if args.stack and outputs.get("environment") and args.stack != outputs["environment"]:
        # Stack names and environments are the same words in this project; a mismatch is a wrong file.
        raise BadInput(f"{source}: output `environment`", f"the stack {args.stack}", outputs["environment"])
    region = check_region(outputs, args.region)
    return Context(args, outputs, session_for(args, region), region)


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
        S3(ctx.clients, ctx.region).put_bytes(
            str(ctx.outputs["configBucket"]),
            audit.audit_key(ctx.environment, entry),
            json.dumps(entry, default=str).encode(),
            kms_key_id=ctx.config_key,
        )
    return code


# ---- verify ----------------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    from backupctl.verify import REQUIRED_OUTPUTS, gather, verify  # noqa: PLC0415

    ctx = context(args, REQUIRED_OUTPUTS)
    print(f"verifying {ctx.environment} in {ctx.region} ...", file=sys.stderr)
    findings = verify(ctx.outputs, gather(ctx.outputs, ctx.clients))
    return finish(
        ctx, "verify", findings, title=f"Live verification of {ctx.environment} against the runbook"
    )


# ---- config ----------------------------------------------------------------------------------------


def _config_clients(ctx: Context) -> tuple[Any, Any, Any]:
    return (
        ctx.clients.client("ssm", ctx.region),
        ctx.clients.client("secretsmanager", ctx.region),
        ctx.clients.client("s3", ctx.region),
    )


def cmd_config_backup(args: argparse.Namespace) -> int:
    from backupctl.configbackup import collect_stack, write_snapshot  # noqa: PLC0415

    ctx = context(args, CONFIG_OUTPUTS)
    ssm, secrets, s3 = _config_clients(ctx)
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
    from backupctl.configbackup import list_snapshots  # noqa: PLC0415

    ctx = context(args, CONFIG_OUTPUTS)
    refs = list_snapshots(
        ctx.clients.client("s3", ctx.region), str(ctx.outputs["configBucket"]), ctx.environment
    )
    if args.json:
        render_json(
            [{"key": r.key, "createdAt": r.created_at.isoformat(), "manifest": r.manifest_key} for r in refs],
            sys.stdout,
        )
    else:
        print(f"{len(refs)} config snapshot(s) of {ctx.environment} in s3://{ctx.outputs['configBucket']}")
        for r in refs:
            print(f"  {r.created_at:%Y-%m-%d %H:%M:%S}Z  {r.key}")
    return 0


def _parse_at(text: str) -> datetime:
    from backupctl.drill import parse_time  # noqa: PLC0415

    moment = parse_time(text, "--at", "a date or time like 2026-11-28 or 2026-11-28T06:00Z")
    if len(text) == 10:  # a bare date means the end of that day
        moment = moment.replace(hour=23, minute=59, second=59)
    return moment


def cmd_config_restore(args: argparse.Namespace) -> int:
    from backupctl.configbackup import (  # noqa: PLC0415
        SnapshotRefused,
        apply_restore,
        collect_stack,
        list_snapshots,
        load_snapshot,
        plan_restore,
    )

    ctx = context(args, CONFIG_OUTPUTS)
    if ctx.environment == "prod" and not args.dry_run:
        if args.prune:
            raise RefusedError(
                "config restore --prune is refused on prod: deleting live parameters needs a human"
            )
        if args.confirm != "prod":
            raise RefusedError(
                "config restore on prod changes live parameters: add --confirm prod (or --dry-run)"
            )
    ssm, secrets, s3 = _config_clients(ctx)
    bucket = str(ctx.outputs["configBucket"])
    refs = list_snapshots(s3, bucket, ctx.environment)
    if args.key:
        chosen = [r for r in refs if r.key == args.key]
        if not chosen:
            raise BadInput("--key", f"a snapshot key under s3://{bucket}/config/{ctx.environment}/", args.key)
    else:
        at = _parse_at(args.at) if args.at else None
        chosen = [r for r in refs if at is None or r.created_at <= at]
        if not chosen:
            raise BadInput("--at" if at else "config bucket", "a snapshot at or before that time", "none")
    ref = chosen[-1]
    try:
        document, _manifest = load_snapshot(s3, bucket, ref)
    except SnapshotRefused as exc:
        raise RefusedError(str(exc)) from None
    live = collect_stack(ssm, secrets, ctx.outputs)
    changes = plan_restore(document, live, prune=args.prune)
    applied = 0 if args.dry_run else apply_restore(changes, document, ssm, secrets)
    needs_value = [c.name for c in changes if c.action == "needs-value"]
    pending = sum(c.apply for c in changes)
    if not args.json:
        print(f"Restore of {ctx.environment} config from s3://{bucket}/{ref.key} (checksum verified)")
        symbols = {"add": "+", "change": "~", "remove": "-", "keep": "=", "retag": "~", "rotation": "~"}
        for c in changes:
            print(f"  {symbols.get(c.action, '!')} {c.kind:<9} {c.name}  {c.detail}")
        if not changes:
            print("  live configuration already matches the snapshot")
        verb = "would apply" if args.dry_run else "applied"
        print(f"{verb} {pending if args.dry_run else applied} change(s)")
        if needs_value:
            print(f"values to re-supply by hand (never stored): {', '.join(needs_value)}")
    findings = [
        Finding(
            "PASS",
            "1.3",
            "config-restore",
            ref.key,
            f"{'dry run: ' if args.dry_run else ''}{pending} change(s), "
            f"{len(needs_value)} value(s) to re-supply",
        )
    ]
    extra = {
        "snapshot": ref.key,
        "dryRun": args.dry_run,
        "applied": applied,
        "changes": [c.to_dict() for c in changes],
        "needsValue": needs_value,
    }
    return finish(
        ctx,
        "config restore",
        findings,
        title="",
        store_audit=True,
        extra=extra,
        table=False,
    )


# ---- kms -------------------------------------------------------------------------------------------


def _key_arns(ctx: Context, purpose: str | None) -> dict[str, str]:
    arns = {str(k): str(v) for k, v in ctx.outputs["keyArns"].items()}
    if purpose is None:
        return arns
    if purpose not in arns:
        raise BadInput("--key", f"one of {', '.join(sorted(arns))}", purpose)
    return {purpose: arns[purpose]}


def _validate(ctx: Context, arns: dict[str, str]) -> list[Finding]:
    from backupctl.kmscheck import KeyValidation  # noqa: PLC0415

    return KeyValidation(
        Kms(ctx.clients, ctx.region),
        S3(ctx.clients, ctx.region),
        environment=ctx.environment,
        bucket=str(ctx.outputs["configBucket"]),
        config_key_arn=ctx.config_key,
    ).run(arns)


def cmd_kms_validate(args: argparse.Namespace) -> int:
    ctx = context(args, KMS_OUTPUTS)
    findings = _validate(ctx, _key_arns(ctx, args.key))
    return finish(
        ctx, "kms validate", findings, title=f"KMS validation of {ctx.environment}", store_audit=True
    )


def cmd_kms_rotate_now(args: argparse.Namespace) -> int:
    ctx = context(args, KMS_OUTPUTS)
    arns = _key_arns(ctx, args.key)
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


# ---- parsers ---------------------------------------------------------------------------------------


def live_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack", help="stack name (outputs via `pulumi stack output --json` when on PATH)")
    common.add_argument("--outputs", help="a saved `pulumi stack output --json` file, or - for stdin")
    common.add_argument("--region", help="must match the stack's region (default: the stack's region)")
    common.add_argument("--profile", help="AWS profile (default: the standard credential chain)")
    common.add_argument("--endpoint-url", help="AWS endpoint override (moto server, LocalStack)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--audit-log", help="append the JSON-lines audit record here (default: stderr)")
    return common


def register(sub: Any) -> None:
    common = live_options()
    add: Callable[..., argparse.ArgumentParser] = sub.add_parser
    p = add(
        "verify",
        parents=[common],
        help="check the live account against the runbook",
        description="Read the stack outputs and check the deployed account: backup retention, PITR "
        "within each database's RPO, a snapshot newer than 26 h, weekly recovery points kept >= 30 d, "
        "vault encryption and lock, bucket versioning and encryption, the artifacts lifecycle, evidence "
        "Object Lock, key rotation, schedules. Exit 0 clean, 1 a check failed, 2 bad input.",
    )
    p.set_defaults(handler=cmd_verify)

    config = add("config", help="daily config backup and restore (runbook 1.3)").add_subparsers(
        dest="config_command", required=True, metavar="ACTION"
    )
    p = config.add_parser(
        "backup",
        parents=[common],
        help="snapshot SSM parameters and secrets metadata to the config bucket",
        description="Snapshot policies and routing pins (SSM parameters under the stack's paths) and "
        "secrets metadata (never values) into the config bucket with a SHA-256 manifest, SSE-KMS.",
    )
    p.set_defaults(handler=cmd_config_backup)
    p = config.add_parser("list", parents=[common], help="list config snapshots in the config bucket")
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

    kms = add("kms", help="KMS post-rotation validation (runbook 3)").add_subparsers(
        dest="kms_command", required=True, metavar="ACTION"
    )
    for name, handler, text in (
        ("validate", cmd_kms_validate, "validate every CMK: rotation, history, round trip, canary decrypt"),
        ("rotate-now", cmd_kms_rotate_now, "rotate keys on demand, then validate them"),
    ):
        p = kms.add_parser(name, parents=[common], help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("--key", help="only this key purpose (rds, backup, storage, config, logs)")
        p.set_defaults(handler=handler)
