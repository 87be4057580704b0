"""`backupctl adopt`: the `pulumi import --file` that adopts existing RDS instances at the program's URNs,
and what the first `pulumi up` after it changes (runbook 1.1; README "Adopting an existing database").
Exit 0 file written, 1 an instance adoption cannot make compliant (no file), 2 bad input."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import version
from typing import Any

from backupctl.cli.common import project_dir
from backupctl.errors import BadInput
from backupctl.files import check_writable, write_json
from backupctl.findings import exit_code, render_json, render_table, summary


def _specs(config: Any, wanted: list[str] | None) -> tuple[dict[str, str], str]:
    """Database name -> adoptIdentifier, from the stack's settings (only databases marked for adoption),
    and the stack's region."""
    from components.settings import NAMESPACE, SettingsError, load_settings  # noqa: PLC0415

    stack = config.stack
    try:
        settings = load_settings(
            lambda k: config.values.get(f"{NAMESPACE}:{k}"), lambda k: config.values.get(f"aws:{k}")
        )
    except SettingsError as exc:
        raise BadInput.message(f"Pulumi.{stack}.yaml: {exc}") from None
    marked = {d.name: d.adopt_identifier for d in settings.databases if d.adopt_identifier}
    for name in wanted or []:
        if name not in marked:
            choices = ", ".join(sorted(marked)) or "none"
            raise BadInput(
                f"--database {name}",
                f"a database of Pulumi.{stack}.yaml with adoptIdentifier ({choices})",
                name,
            )
    if not marked:
        raise BadInput(
            f"Pulumi.{stack}.yaml: maestro-backup:databases[*].adoptIdentifier",
            "the existing instance's identifier on each database to adopt",
            "none",
        )
    return {n: i for n, i in marked.items() if not wanted or n in wanted}, settings.region


def cmd_adopt(args: argparse.Namespace) -> int:
    from backupctl.live.adopt import INSTANCE, Adoption, first_up, import_file  # noqa: PLC0415
    from backupctl.live.aws import Rds  # noqa: PLC0415
    from backupctl.live.session import session_for  # noqa: PLC0415
    from backupctl.offline.preview import close_runtime, run_stack  # noqa: PLC0415
    from backupctl.offline.stackconfig import load_stack_config  # noqa: PLC0415

    check_writable(args.out, "--out")  # refused before anything is read
    config = load_stack_config(project_dir(args), args.stack)
    marked, region = _specs(config, args.database)
    try:
        deployment = run_stack(config)
    finally:
        close_runtime()
    rds = Rds(session_for(args, region), region)
    adoptions = []
    for name, identifier in sorted(marked.items()):
        live = rds.instance(identifier)
        if live is None:
            raise BadInput(f"adoptIdentifier {identifier}", f"an existing RDS instance in {region}", "none")
        (resource,) = [
            r
            for r in deployment["deployment"]["resources"]
            if r["type"] == INSTANCE and r["inputs"]["tags"].get("maestro:database") == name
        ]
        adoptions.append(Adoption(name, resource, live))
    findings = [f for a in adoptions for f in first_up(a)]
    code = exit_code(findings)
    if code == 0:
        write_json(args.out, import_file(deployment, adoptions, version("pulumi-aws")), "--out")
        print(
            f"wrote {args.out}; next: pulumi import --stack {args.stack} --file {args.out} "
            f"--generate-code=false --protect, then pulumi preview --stack {args.stack} --diff",
            file=sys.stderr,
        )
    if args.json:
        render_json(
            {"stack": args.stack, "summary": summary(findings), "findings": [f.to_dict() for f in findings]},
            sys.stdout,
        )
    else:
        render_table(
            findings, sys.stdout, title=f"Adopting into {args.stack}: what the first `pulumi up` does"
        )
    return code


def register(sub: Any) -> None:
    p = sub.add_parser(
        "adopt",
        help="write the `pulumi import --file` that adopts existing RDS instances",
        description="For each database of the stack with adoptIdentifier, read the live instance and write "
        "the `pulumi import --file` JSON that puts it at the program's URN (parent chain included), and show "
        "what the first `pulumi up` after the import keeps and changes. Exit 0 written, 1 an instance "
        "adoption cannot make compliant (nothing written), 2 bad input.",
    )
    p.add_argument("--stack", required=True, help="the stack whose Pulumi.<stack>.yaml marks the databases")
    p.add_argument("--database", action="append", help="only this database (repeatable; default: all marked)")
    p.add_argument("--out", required=True, help="where to write the import file")
    p.add_argument("--profile", help="AWS profile (default: the standard credential chain)")
    p.add_argument("--endpoint-url", help="AWS endpoint override (moto server, LocalStack)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=cmd_adopt)
