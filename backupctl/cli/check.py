"""`backupctl preview` and `backupctl check`: the program under mocks and the runbook policies over it,
before anything is deployed (runbook 1-4). Exit 0 clean, 1 a mandatory violation, 2 bad input."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backupctl.cli.common import project_dir
from backupctl.files import check_writable, write_json
from backupctl.findings import Finding, exit_code, render_json, render_table, summary


def selected_stacks(args: argparse.Namespace) -> tuple[Path, list[str]]:
    """The project and the stacks asked for (default: every Pulumi.*.yaml)."""
    from backupctl.offline.stackconfig import list_stacks  # noqa: PLC0415

    root = project_dir(args)
    return root, [args.stack] if args.stack else list_stacks(root)


def previews(root: Path, stacks: list[str], *, verbose: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each stack previewed under mocks, one after another."""
    from backupctl.offline.preview import close_runtime, run_stack  # noqa: PLC0415
    from backupctl.offline.stackconfig import load_stack_config  # noqa: PLC0415

    configs = [load_stack_config(root, stack) for stack in stacks]  # every stack file read before any work
    try:
        for stack, config in zip(stacks, configs, strict=True):
            print(f"previewing stack {stack} under mocks ...", file=sys.stderr)
            if verbose:
                for key in config.secret_keys:
                    print(
                        f"  {key} is a secure value: not decrypted offline, taken as valid", file=sys.stderr
                    )
            yield stack, run_stack(config)
    finally:
        close_runtime()


def _print_summary(stack: str, summary_: dict[str, Any]) -> None:
    print(
        f"Stack {stack}: {summary_['resources']} resources in {summary_['components']} components "
        f"({summary_['environment']}, {summary_['region']})"
    )
    for component, count in summary_["byComponent"].items():
        print(f"  {component:<40} {count:>4}")
    print(f"  databases:     {'; '.join(summary_['databases'])}")
    print(f"  backup vault:  {summary_['vault']}")
    print(f"  evidence lock: {summary_['evidenceLock']}")
    print(f"  buckets:       {', '.join(str(b) for b in summary_['buckets'])}")


def cmd_preview(args: argparse.Namespace) -> int:
    from backupctl.offline.preview import summarize  # noqa: PLC0415

    results = {}
    root, stacks = selected_stacks(args)
    outs: dict[str, str] = {}
    if args.out:
        base = str(Path(args.out).with_suffix(""))
        outs = {s: args.out if len(stacks) == 1 else f"{base}.{s}.json" for s in stacks}
    for out in outs.values():
        check_writable(out, "--out")  # refused before the previews, not after them
    for stack, deployment in previews(root, stacks, verbose=args.verbose):
        if stack in outs:
            out = outs[stack]
            write_json(out, deployment, "--out")
            print(f"wrote {out}", file=sys.stderr)
        results[stack] = summarize(deployment)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for stack, summary_ in results.items():
        _print_summary(stack, summary_)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from backupctl.offline.check import load_deployment, load_policy_config, run_rules, sarif  # noqa: PLC0415

    config = load_policy_config(args.policy_config)
    if args.deployment:
        targets = [(args.deployment, load_deployment(Path(args.deployment)))]
    else:
        targets = list(previews(*selected_stacks(args), verbose=args.verbose))
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
        "preview",
        help="run the program under mocks and write a stack-export deployment",
        description="Run __main__.py under Pulumi mocks with the stack's config (Pulumi.yaml "
        "defaults + Pulumi.STACK.yaml) and summarise the resources; --out writes the deployment.",
    )
    p.add_argument("--stack", help="stack name (default: every Pulumi.*.yaml stack)")
    p.add_argument("--out", help="write the deployment JSON (pulumi stack export shape) here")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="also say which values are secure")
    p.set_defaults(handler=cmd_preview)

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
