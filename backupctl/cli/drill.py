"""`backupctl drill` and `drill history`: the quarterly restore drill (runbook 2, RTO/RPO of 2.2)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backupctl.cli.common import live_options
from backupctl.errors import BadInput
from backupctl.findings import render_json
from backupctl.live import audit

DRILL_OUTPUTS = (
    "environment",
    "region",
    "databases",
    "artifactsBucket",
    "evidenceBucket",
    "configBucket",
    "parameterPaths",
    "secretsPrefix",
    "keyArns",
)


def _suite(args: argparse.Namespace) -> Any:
    from backupctl.drill.checks import SmokeSuite  # noqa: PLC0415

    return SmokeSuite.load(args.smoke) if args.smoke else None


def _print_result(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        render_json(report, sys.stdout)
        return
    t = report["targets"]
    print(f"Restore drill {report['drillId']} ({report['mode']}, {report['source']}): {report['result']}")
    for s in report["steps"]:
        print(f"  {s['number']:>2}. {s['title']:<44} {s['status']:<4} {s['seconds']:>7.1f} s")
    rto = "n/a" if report["rtoSeconds"] is None else f"{report['rtoSeconds']:.1f} s"
    rpo = "n/a" if report["rpoSeconds"] is None else f"{report['rpoSeconds']:.3f} s"
    print(f"  RTO {rto} (target {t['rtoMinutes']} min), RPO {rpo} (target {t['rpoMinutes']} min)")
    for f in report["findings"]:
        if f["status"] != "PASS":
            print(f"  {f['status']}  {f['check']}: {f['message']}")
    if report.get("evidence"):
        e = report["evidence"]
        print(f"  sealed: s3://{e['bucket']}/{e['keys'][0]} ({e['lockMode']} until {e['retainUntil'][:10]})")
    print(f"  report: {', '.join(report.get('localFiles', []))}")


def _audit(args: argparse.Namespace, report: dict[str, Any], who: str, started: datetime) -> None:
    entry = audit.record(
        "drill",
        stack=report.get("stack"),
        result=report["result"].lower(),
        who=who,
        started=started,
        drillId=report["drillId"],
        mode=report["mode"],
        rtoSeconds=report["rtoSeconds"],
        rpoSeconds=report["rpoSeconds"],
    )
    audit.emit(entry, args.audit_log)


def cmd_drill(args: argparse.Namespace) -> int:
    if args.action == "history":
        return cmd_history(args)
    started = datetime.now(UTC)
    if args.stack or args.outputs:
        if args.local:
            raise BadInput("--local", "either --local or --stack/--outputs", "both")
        report = _drill_rds(args)
    else:
        report = _drill_local(args)
    _print_result(report, args.json)
    _audit(args, report, audit.actor(), started)
    return 0 if report["result"] == "PASS" else 1


def _drill_local(args: argparse.Namespace) -> dict[str, Any]:
    from backupctl.drill.local import LocalOptions, run_local  # noqa: PLC0415
    from backupctl.drill.sandbox import (  # noqa: PLC0415
        LOCAL_BUCKET,
        LOCAL_EVIDENCE_BUCKET,
        LOCAL_REGION,
        embedded_s3,
        local_config_restore,
    )

    if args.orders < 10:
        raise BadInput("--orders", "at least 10", args.orders)
    if args.jobs < 1:
        raise BadInput("--jobs", "at least 1", args.jobs)
    if args.lock_days < 1:
        raise BadInput("--lock-days", "at least 1", args.lock_days)
    base = LocalOptions(
        clients=None,
        bucket=args.bucket or LOCAL_BUCKET,
        evidence_bucket=args.evidence_bucket or (args.bucket or LOCAL_EVIDENCE_BUCKET),
        report_dir=Path(args.report_dir),
        dsn=args.dsn,
        orders=args.orders,
        jobs=args.jobs,
        criticality=args.criticality,
        suite=_suite(args),
        smoke_command=args.smoke_command,
        keep=args.keep,
        workdir=args.workdir,
    )
    if args.bucket:
        from backupctl.live.session import session_for  # noqa: PLC0415

        base.clients = session_for(args, args.region or LOCAL_REGION)
        return run_local(base)
    with embedded_s3(args.lock_mode, args.lock_days) as clients:
        base.clients = clients
        base.config_restore = local_config_restore(clients, LOCAL_BUCKET)
        return run_local(base)


def _drill_rds(args: argparse.Namespace) -> dict[str, Any]:
    from backupctl.drill.rds import RdsOptions, run_rds  # noqa: PLC0415
    from backupctl.inputs import parse_time  # noqa: PLC0415
    from backupctl.live.session import context  # noqa: PLC0415

    if args.point_in_time and args.snapshot:
        raise BadInput("--point-in-time/--snapshot", "at most one of them", "both")
    if args.dsn or args.bucket:
        raise BadInput("--dsn/--bucket", "only with --local", "used with --stack")
    ctx = context(args, DRILL_OUTPUTS)  # run_rds refuses prod and untagged targets before any change
    return run_rds(
        RdsOptions(
            clients=ctx.clients,
            outputs=ctx.outputs,
            report_dir=Path(args.report_dir),
            source=args.source,
            point_in_time=parse_time(args.point_in_time, "--point-in-time") if args.point_in_time else None,
            snapshot=args.snapshot,
            keep=args.keep,
            suite=_suite(args),
            smoke_command=args.smoke_command,
            waiter_delay=args.waiter_delay,
        )
    )


def cmd_history(args: argparse.Namespace) -> int:
    from backupctl.drill import report as drillreport  # noqa: PLC0415
    from backupctl.drill.sandbox import LOCAL_REGION  # noqa: PLC0415
    from backupctl.live.session import context, session_for  # noqa: PLC0415

    rows: list[dict[str, Any]] = []
    if args.stack or args.outputs:
        ctx = context(args, ("environment", "region", "evidenceBucket"))
        rows += drillreport.history_from_bucket(
            ctx.clients.client("s3", ctx.region), str(ctx.outputs["evidenceBucket"])
        )
    elif args.evidence_bucket:
        clients = session_for(args, args.region or LOCAL_REGION)
        rows += drillreport.history_from_bucket(clients.client("s3"), args.evidence_bucket)
    rows += drillreport.history_from_dir(Path(args.report_dir))
    if args.json:
        render_json(rows, sys.stdout)
    else:
        sys.stdout.write(drillreport.render_history(rows))
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "drill",
        parents=[live_options()],
        help="run the quarterly restore drill (runbook 2) or list past drills",
        description="Run runbook 2.1's ten-step restore drill and measure RTO/RPO against 2.2. With --stack/"
        "--outputs: restore the staging database's newest snapshot (or --snapshot, or --point-in-time) into "
        "the isolated drill network; prod and untagged databases are refused. Without them (--local, the "
        "default): a throwaway local PostgreSQL, pg_dump -Fc + pg_basebackup/WAL to S3 (an embedded moto "
        "server unless --bucket), pg_restore -j and PITR replay. `drill history` lists past reports. "
        "Exit 0 drill passed, 1 drill failed, 2 bad input or refused.",
    )
    p.add_argument("action", nargs="?", choices=["history"], help="history: list past drill reports")
    p.add_argument("--local", action="store_true", help="the local drill (the default without --stack)")
    p.add_argument("--source", help="database name or identifier from the stack outputs (default: the first)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--point-in-time", help="restore to this ISO time (inside the restorable window)")
    which.add_argument("--snapshot", help="restore this snapshot (default: the newest available)")
    p.add_argument("--keep", action="store_true", help="leave restored servers/instances for inspection")
    p.add_argument(
        "--report-dir", default="drill-reports", help="local report directory (default: %(default)s)"
    )
    p.add_argument(
        "--smoke", help="smoke suite YAML/JSON: tables, nonEmpty, canaries (name: SQL returning true)"
    )
    p.add_argument("--smoke-command", help="also run this shell command with PG* set to the restore")
    p.add_argument(
        "--criticality",
        choices=["critical", "standard"],
        default="critical",
        help="local drill targets (runbook 2.2; default: %(default)s)",
    )
    p.add_argument("--dsn", help="local drill: back up and restore this database instead of a seeded one")
    p.add_argument(
        "--orders", type=int, default=20_000, help="local drill: seeded orders (default: %(default)s)"
    )
    p.add_argument("--jobs", type=int, default=2, help="parallel pg_restore jobs (default: %(default)s)")
    p.add_argument("--bucket", help="local drill: a real S3 bucket for the backups (default: embedded moto)")
    p.add_argument("--evidence-bucket", help="Object Lock bucket for the report (default: --bucket)")
    p.add_argument(
        "--lock-mode",
        choices=["GOVERNANCE", "COMPLIANCE"],
        default="COMPLIANCE",
        help="embedded evidence bucket's lock mode (default: %(default)s)",
    )
    p.add_argument(
        "--lock-days", type=int, default=90, help="embedded evidence lock days (default: %(default)s)"
    )
    p.add_argument("--workdir", help="where the throwaway servers live (default: the system temp dir)")
    p.add_argument(
        "--waiter-delay", type=int, default=30, help="RDS waiter delay in seconds (default: %(default)s)"
    )
    p.set_defaults(handler=cmd_drill)
