"""Sub-commands beyond preview: each registers its parser here and imports its module on use."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from backupctl.report import Finding, exit_code, render_json, render_table, summary


def cmd_check(args: argparse.Namespace) -> int:
    from backupctl.check import load_deployment, load_policy_config, run_rules, sarif  # noqa: PLC0415
    from backupctl.cli import _project_dir  # noqa: PLC0415

    config = load_policy_config(args.policy_config)
    targets: list[tuple[str, dict[str, Any]]] = []
    if args.deployment:
        targets.append((args.deployment, load_deployment(Path(args.deployment))))
    else:
        from backupctl.preview import close_runtime, preview_stack  # noqa: PLC0415
        from backupctl.stackconfig import list_stacks  # noqa: PLC0415

        project_dir = _project_dir(args)
        try:
            for stack in [args.stack] if args.stack else list_stacks(project_dir):
                print(f"previewing stack {stack} under mocks ...", file=sys.stderr)
                targets.append((stack, preview_stack(project_dir, stack)))
        finally:
            close_runtime()
    results: dict[str, list[Finding]] = {
        name: run_rules(dep, config=config, stack=name) for name, dep in targets
    }
    every = [f for findings in results.values() for f in findings]
    if args.sarif:
        render_json(sarif(every), sys.stdout)
    elif args.json:
        render_json(
            {
                name: {"summary": summary(f), "findings": [x.to_dict() for x in f]}
                for name, f in results.items()
            },
            sys.stdout,
        )
    else:
        for name, findings in results.items():
            render_table(
                findings,
                sys.stdout,
                title=f"Compliance of {name} with the Backup and Restore Runbook",
                verbose=args.verbose,
            )
    return exit_code(every)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="run the runbook policies over a previewed stack or a stack export",
        description="Run the CrossGuard pack's policies offline. With no --stack or --deployment, every "
        "Pulumi.*.yaml stack is previewed under mocks and checked. Exit 0 clean, 1 a mandatory violation, "
        "2 bad input.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--stack", help="preview this stack under mocks, then check it")
    source.add_argument(
        "--deployment", help="check a `pulumi stack export` JSON file (also of a deployed stack)"
    )
    p.add_argument(
        "--policy-config",
        help="JSON: policy name -> settings (thresholds, enforcementLevel), as policyPackConfigs",
    )
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="findings as JSON")
    output.add_argument("--sarif", action="store_true", help="failures as SARIF 2.1.0 for code scanning")
    p.add_argument("--verbose", "-v", action="store_true", help="list passing checks too")
    p.set_defaults(handler=cmd_check)

    from backupctl import ops  # noqa: PLC0415

    ops.register(sub)

    from backupctl import drillcli  # noqa: PLC0415

    drillcli.register(sub)
