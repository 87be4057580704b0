"""`backupctl drill` and `drill history`: the quarterly restore drill (runbook 2, RTO/RPO of 2.2).

Three modes: the RDS drill (``--stack``/``--outputs``), the local drill (the default: a seeded
throwaway database, ``--dsn`` for an existing one, ``--from-bucket`` to restore the backups that exist)
and ``history``. An option that does not apply to the chosen mode is refused with the reason; every
input (files, directories, the database, the buckets) is checked before any work starts; every drill run
leaves its audit record, refusals, failures and interruptions included.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backupctl.cli.common import MAX_JOBS, live_options
from backupctl.errors import BadInput
from backupctl.files import check_directory, check_writable
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
DEFAULTS = {
    "report_dir": "drill-reports",
    "orders": 20_000,
    "jobs": 2,
    "criticality": "critical",
    "lock_mode": "COMPLIANCE",
    "lock_days": 90,
    "waiter_delay": 30,
    "prefix": "backups/postgres",
}


def _mode(args: argparse.Namespace) -> str:
    if args.action == "history":
        return "history"
    if args.stack or args.outputs:
        return "rds"
    return "local"


def _real_s3(args: argparse.Namespace) -> bool:
    return bool(args.bucket or args.from_bucket or args.evidence_bucket)


def _aws(args: argparse.Namespace) -> bool:
    return bool(args.stack or args.outputs) or _real_s3(args)


@dataclass(frozen=True)
class Rule:
    """Where an option applies, as a test on the arguments and the words that say so."""

    applies: Callable[[argparse.Namespace], bool]
    where: str


def _rules() -> dict[str, Rule]:
    local = Rule(lambda a: _mode(a) == "local", "in the local drill (not with --stack/--outputs or history)")
    drill = Rule(lambda a: _mode(a) != "history", "in a drill run (history only reads reports)")
    return {
        "--local": Rule(lambda a: _mode(a) == "local", "without --stack/--outputs and not with history"),
        "--source": Rule(lambda a: _mode(a) == "rds", "with --stack/--outputs (it names a stack database)"),
        "--point-in-time": Rule(
            lambda a: _mode(a) == "rds",
            "with --stack/--outputs (the local drill replays WAL to a time it sets itself)",
        ),
        "--snapshot": Rule(lambda a: _mode(a) == "rds", "with --stack/--outputs (RDS snapshots)"),
        "--waiter-delay": Rule(lambda a: _mode(a) == "rds", "with --stack/--outputs (RDS waiters)"),
        "--keep": drill,
        "--smoke": drill,
        "--smoke-command": drill,
        "--audit-log": drill,
        "--criticality": Rule(
            lambda a: _mode(a) == "local", "in the local drill (a stack's databases carry their own)"
        ),
        "--dsn": local,
        "--jobs": local,
        "--workdir": local,
        "--orders": Rule(
            lambda a: _mode(a) == "local" and not a.dsn,
            "in the seeded local drill (it sizes the seeded data; --dsn drills a database as it is)",
        ),
        "--bucket": Rule(
            lambda a: _mode(a) == "local" and not a.from_bucket,
            "in the local drill without --from-bucket (where the drill's own dump goes)",
        ),
        "--prefix": Rule(
            lambda a: _mode(a) == "local" and not a.from_bucket,
            "in the local drill without --from-bucket (give the prefix in s3://BUCKET/PREFIX)",
        ),
        "--from-bucket": Rule(
            lambda a: _mode(a) == "local" and bool(a.dsn),
            "with --dsn (the database whose stored backups are restored)",
        ),
        "--backup": Rule(lambda a: bool(a.from_bucket), "with --from-bucket (a key of a stored backup)"),
        "--at": Rule(lambda a: bool(a.from_bucket), "with --from-bucket (a time to pick the backup by)"),
        "--evidence-bucket": Rule(lambda a: _mode(a) != "rds", "without --stack (the stack names its own)"),
        "--lock-mode": Rule(
            lambda a: _mode(a) == "local" and not _real_s3(a),
            "with the embedded S3 (a real evidence bucket brings its own lock)",
        ),
        "--lock-days": Rule(
            lambda a: _mode(a) == "local" and not _real_s3(a),
            "with the embedded S3 (a real evidence bucket brings its own lock)",
        ),
        "--region": Rule(_aws, "with a stack or a real bucket (not the embedded S3)"),
        "--profile": Rule(_aws, "with a stack or a real bucket (not the embedded S3)"),
        "--endpoint-url": Rule(_aws, "with a stack or a real bucket (not the embedded S3)"),
    }


def _mode_words(args: argparse.Namespace, flag: str) -> str:
    """The drill ``args`` ask for, in words that do not name ``flag`` itself."""
    mode = _mode(args)
    if mode == "history":
        return "with drill history"
    if mode == "rds":
        return "with --stack/--outputs"
    if args.from_bucket and flag != "--from-bucket":
        return "with --from-bucket"
    return "with --dsn" if args.dsn else "without --dsn (the seeded local drill)"


def refuse_what_does_not_apply(args: argparse.Namespace) -> None:
    """An option given where it has no effect is an error naming why, never silently ignored."""
    for flag, rule in _rules().items():
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value not in (None, False) and not rule.applies(args):
            raise BadInput(flag, f"only {rule.where}", f"it {_mode_words(args, flag)}")
    if args.backup and args.at:
        raise BadInput("--backup/--at", "at most one of them", "both")


def _option(args: argparse.Namespace, name: str) -> Any:
    value = getattr(args, name)
    return DEFAULTS[name] if value is None else value


def _bounded(args: argparse.Namespace, name: str, low: int, high: int, why: str = "") -> int:
    value = int(_option(args, name))
    if not low <= value <= high:
        expected = f"{low} to {high}" + (f" ({why})" if why else "")
        raise BadInput(f"--{name.replace('_', '-')}", expected, value)
    return value


def _report_dir(args: argparse.Namespace) -> Path:
    """The report directory, refused before any work when it cannot be written (created later)."""
    path = Path(_option(args, "report_dir"))
    if path.exists():
        return check_directory(path, "--report-dir", create=False)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise BadInput(
            f"--report-dir {path}",
            "a directory, or one that can be created in an existing, writable directory",
            f"no writable directory {parent}",
        )
    return path


def _suite(args: argparse.Namespace) -> Any:
    from backupctl.drill.checks import SmokeSuite  # noqa: PLC0415

    return SmokeSuite.load(args.smoke) if args.smoke else None


def _print_result(report: dict[str, Any], as_json: bool, *, embedded: bool) -> None:
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
    e = report.get("evidence") or {}
    if e.get("sealed"):
        print(f"  sealed: s3://{e['bucket']}/{e['keys'][0]} ({e['lockMode']} until {e['retainUntil'][:10]})")
        if embedded:
            print("  (in the embedded demo S3, gone when the drill ends; --evidence-bucket keeps it)")
    else:
        print(f"  evidence NOT sealed: {e.get('reason', 'not attempted')}")
    print(f"  report: {', '.join(report.get('localFiles', []))}")


def _noted(run: audit.Run) -> Callable[[dict[str, Any]], None]:
    """Puts the report's identity into the audit record, also when the drill is interrupted."""

    def note(report: dict[str, Any]) -> None:
        run.details.update(
            drillId=report["drillId"],
            mode=report["mode"],
            drillResult=report["result"],
            report=report.get("localFiles", []),
        )

    return note


def cmd_drill(args: argparse.Namespace) -> int:
    if args.action == "history":
        refuse_what_does_not_apply(args)
        return cmd_history(args)
    if args.audit_log:
        check_writable(args.audit_log, "--audit-log")  # where a refusal would be recorded: checked first
    run = audit.Run("drill", args.audit_log, stack=args.stack)
    with audit.recorded(run):
        refuse_what_does_not_apply(args)
        report = _drill_rds(args, run) if _mode(args) == "rds" else _drill_local(args, run)
    _print_result(report, args.json, embedded=_mode(args) == "local" and not _real_s3(args))
    entry = audit.record(
        "drill",
        stack=report.get("stack"),
        result=report["result"].lower(),
        who=audit.actor(),
        started=run.started,
        drillId=report["drillId"],
        mode=report["mode"],
        database=report.get("database"),
        backup=report.get("backup", {}).get("id"),
        rtoSeconds=report["rtoSeconds"],
        rpoSeconds=report["rpoSeconds"],
        sealed=bool((report.get("evidence") or {}).get("sealed")),
    )
    audit.emit(entry, args.audit_log)
    return 0 if report["result"] == "PASS" else 1


def _stored(args: argparse.Namespace) -> Any:
    from backupctl.drill.dbbackup import Choice  # noqa: PLC0415
    from backupctl.drill.local import Stored  # noqa: PLC0415
    from backupctl.inputs import parse_time  # noqa: PLC0415

    location = str(args.from_bucket)
    bucket, _, prefix = location.removeprefix("s3://").partition("/")
    if not location.startswith("s3://") or not bucket:
        raise BadInput("--from-bucket", "s3://BUCKET/PREFIX (where `backup db` stores)", location)
    at = parse_time(args.at, "--at") if args.at else None
    return Stored(bucket, prefix.strip("/") or DEFAULTS["prefix"], Choice(key=args.backup, at=at))


def _check_inputs(args: argparse.Namespace) -> tuple[Path, Any]:
    """Every local-drill input, before any work: numbers, files, directories, the database."""
    from backupctl.drill.local import LOCAL_TOOLS  # noqa: PLC0415
    from backupctl.drill.pgtools import Conn, check_reachable, check_workdir, tool  # noqa: PLC0415
    from backupctl.drill.sandbox import MAX_LOCK_DAYS, MIN_LOCK_DAYS  # noqa: PLC0415

    _bounded(args, "orders", 10, 100_000_000)
    _bounded(args, "jobs", 1, MAX_JOBS)
    _bounded(args, "lock_days", MIN_LOCK_DAYS, MAX_LOCK_DAYS, "runbook 1.2 keeps evidence 90 days at least")
    report_dir = _report_dir(args)
    suite = _suite(args)
    if args.workdir:
        check_workdir(args.workdir)
    for name in LOCAL_TOOLS:
        tool(name)
    if args.dsn:
        check_reachable(Conn(dsn=args.dsn))
    return report_dir, suite


def _drill_local(args: argparse.Namespace, run: audit.Run) -> dict[str, Any]:
    from backupctl.drill.local import LocalOptions, run_local  # noqa: PLC0415
    from backupctl.drill.sandbox import (  # noqa: PLC0415
        LOCAL_BUCKET,
        LOCAL_EVIDENCE_BUCKET,
        embedded_s3,
        local_config_restore,
    )

    stored = _stored(args) if args.from_bucket else None
    report_dir, suite = _check_inputs(args)
    bucket = stored.bucket if stored else args.bucket
    opts = LocalOptions(
        clients=None,
        bucket=bucket or LOCAL_BUCKET,
        evidence_bucket=args.evidence_bucket or bucket or LOCAL_EVIDENCE_BUCKET,
        report_dir=report_dir,
        dsn=args.dsn,
        orders=_option(args, "orders"),
        jobs=_option(args, "jobs"),
        criticality=_option(args, "criticality"),
        prefix=_option(args, "prefix"),
        suite=suite,
        smoke_command=args.smoke_command,
        keep=args.keep,
        workdir=args.workdir,
        stored=stored,
    )
    if _real_s3(args):
        opts.clients = _real_buckets(args, opts)
        report_dir.mkdir(parents=True, exist_ok=True)
        return run_local(opts, on_report=_noted(run))
    with embedded_s3(_option(args, "lock_mode"), _option(args, "lock_days")) as clients:
        opts.clients = clients
        opts.config_restore = local_config_restore(clients, LOCAL_BUCKET)
        report_dir.mkdir(parents=True, exist_ok=True)
        return run_local(opts, on_report=_noted(run))


def _real_buckets(args: argparse.Namespace, opts: Any) -> Any:
    """Clients for real S3 with bounded retries; the buckets are checked before any work."""
    from backupctl.drill import dbbackup  # noqa: PLC0415
    from backupctl.drill import report as drillreport  # noqa: PLC0415
    from backupctl.drill.sandbox import LOCAL_REGION  # noqa: PLC0415
    from backupctl.live.aws import BOUNDED  # noqa: PLC0415
    from backupctl.live.session import session_for  # noqa: PLC0415

    clients = session_for(args, args.region or LOCAL_REGION)
    clients.config = BOUNDED
    s3 = clients.client("s3")
    dbbackup.check_bucket(s3, opts.bucket, "--from-bucket" if args.from_bucket else "--bucket")
    where = "--evidence-bucket" if args.evidence_bucket else "--evidence-bucket (default: the backup bucket)"
    if opts.evidence_bucket != opts.bucket:
        dbbackup.check_bucket(s3, opts.evidence_bucket, where)
    drillreport.check_evidence_bucket(s3, opts.evidence_bucket, where)
    return clients


def _drill_rds(args: argparse.Namespace, run: audit.Run) -> dict[str, Any]:
    from backupctl.drill.rds import RdsOptions, run_rds  # noqa: PLC0415
    from backupctl.inputs import parse_time  # noqa: PLC0415
    from backupctl.live.session import context  # noqa: PLC0415

    if args.point_in_time and args.snapshot:
        raise BadInput("--point-in-time/--snapshot", "at most one of them", "both")
    delay = _bounded(args, "waiter_delay", 1, 3600)
    report_dir = _report_dir(args)
    suite = _suite(args)
    point = parse_time(args.point_in_time, "--point-in-time") if args.point_in_time else None
    ctx = context(args, DRILL_OUTPUTS)  # run_rds refuses prod and untagged targets before any change
    run.stack = ctx.environment
    report_dir.mkdir(parents=True, exist_ok=True)
    return run_rds(
        RdsOptions(
            clients=ctx.clients,
            outputs=ctx.outputs,
            report_dir=report_dir,
            source=args.source,
            point_in_time=point,
            snapshot=args.snapshot,
            keep=args.keep,
            suite=suite,
            smoke_command=args.smoke_command,
            waiter_delay=delay,
        ),
        on_report=_noted(run),
    )


def cmd_history(args: argparse.Namespace) -> int:
    from backupctl.drill import report as drillreport  # noqa: PLC0415
    from backupctl.drill.sandbox import LOCAL_REGION  # noqa: PLC0415
    from backupctl.live.session import context, session_for  # noqa: PLC0415

    history = drillreport.History()
    from_bucket = bool(args.stack or args.outputs or args.evidence_bucket)
    report_dir = Path(_option(args, "report_dir"))
    # The default report directory may simply not exist yet when reports are read from a bucket.
    if args.report_dir is not None or not from_bucket or report_dir.exists():
        drillreport.history_from_dir(report_dir, history)
    if args.stack or args.outputs:
        ctx = context(args, ("environment", "region", "evidenceBucket"))
        drillreport.history_from_bucket(
            ctx.clients.client("s3", ctx.region), str(ctx.outputs["evidenceBucket"]), history
        )
    elif args.evidence_bucket:
        clients = session_for(args, args.region or LOCAL_REGION)
        drillreport.history_from_bucket(clients.client("s3"), args.evidence_bucket, history)
    for skipped in history.skipped:
        print(f"backupctl: warning: skipped {skipped['reason']}", file=sys.stderr)
    if args.json:
        rows = history.sorted_rows()
        render_json(
            {"drills": rows, "trend": drillreport.trend(rows), "skipped": history.skipped}, sys.stdout
        )
    else:
        sys.stdout.write(drillreport.render_history(history))
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "drill",
        parents=[live_options()],
        help="run the quarterly restore drill (runbook 2) or list past drills",
        description="Run runbook 2.1's ten-step restore drill and measure RTO/RPO against 2.2. With --stack/"
        "--outputs: restore the staging database's newest snapshot (or --snapshot, or --point-in-time) into "
        "the isolated drill network; prod and untagged databases are refused. Without them (--local, the "
        "default): --dsn DB --from-bucket s3://BUCKET/PREFIX restores the newest stored `backup db` backup "
        "(or --backup KEY, or the newest --at TIME) into a throwaway local PostgreSQL; without "
        "--from-bucket the drill takes its own dump (pg_dump -Fc, plus pg_basebackup/WAL for the seeded "
        "demo) to S3 (an embedded moto server unless --bucket), pg_restore -j and PITR replay. `drill "
        "history` lists past reports per database with the quarter-on-quarter trend. Exit 0 drill passed, "
        "1 drill failed, 2 bad input or refused, 130/143/129 interrupted (the report is still written).",
    )
    p.add_argument("action", nargs="?", choices=["history"], help="history: list past drill reports")
    p.add_argument("--local", action="store_true", help="the local drill (the default without --stack)")
    p.add_argument("--source", help="database name or identifier from the stack outputs (default: the first)")
    p.add_argument("--point-in-time", help="RDS: restore to this ISO time (inside the restorable window)")
    p.add_argument("--snapshot", help="RDS: restore this snapshot (default: the newest available)")
    p.add_argument("--keep", action="store_true", help="leave restored servers/instances for inspection")
    p.add_argument("--report-dir", help="local report directory (default: drill-reports)")
    p.add_argument(
        "--smoke", help="smoke suite YAML/JSON: tables, nonEmpty, canaries (name: SQL returning true)"
    )
    p.add_argument("--smoke-command", help="also run this shell command with PG* set to the restore")
    p.add_argument(
        "--criticality",
        choices=["critical", "standard"],
        help="local drill targets (runbook 2.2; default: critical)",
    )
    p.add_argument("--dsn", help="local drill: the database to drill (libpq string; password via PGPASSWORD)")
    p.add_argument(
        "--from-bucket", help="with --dsn: restore a stored `backup db` backup from s3://BUCKET/PREFIX"
    )
    p.add_argument("--backup", help="with --from-bucket: this backup's key (default: the newest)")
    p.add_argument("--at", help="with --from-bucket: the newest backup taken at or before this ISO time")
    p.add_argument("--orders", type=int, help="seeded local drill: orders to seed (default: 20000)")
    p.add_argument("--jobs", type=int, help="local drill: parallel dump/restore jobs (default: 2)")
    p.add_argument("--bucket", help="local drill: a real S3 bucket for the drill's dump (default: embedded)")
    p.add_argument("--prefix", help="local drill: key prefix in --bucket (default: backups/postgres)")
    p.add_argument("--evidence-bucket", help="Object Lock bucket for the report (default: the backup bucket)")
    p.add_argument(
        "--lock-mode",
        choices=["GOVERNANCE", "COMPLIANCE"],
        help="embedded evidence bucket's lock mode (default: COMPLIANCE)",
    )
    p.add_argument(
        "--lock-days", type=int, help="embedded evidence bucket's lock days, 90 at least (default: 90)"
    )
    p.add_argument("--workdir", help="where the throwaway servers live (default: the system temp dir)")
    p.add_argument("--waiter-delay", type=int, help="RDS waiter delay in seconds (default: 30)")
    p.set_defaults(handler=cmd_drill)
