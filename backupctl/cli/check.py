"""`backupctl preview` and `backupctl check`: the program under mocks and the runbook policies over it,
before anything is deployed (runbook 1-4). Only parses arguments; the work is in backupctl.offline.gate.
Exit 0 clean, 1 a mandatory violation, 2 bad input or nothing to check."""

from __future__ import annotations

import argparse
from typing import Any


def _request(args: argparse.Namespace) -> Any:
    from backupctl.offline.gate import CheckRequest  # noqa: PLC0415 - keep `backupctl --help` fast

    outputs = list(getattr(args, "output", None) or [])
    outputs += ["json"] if getattr(args, "json", False) else []
    outputs += ["sarif"] if getattr(args, "sarif", False) else []
    return CheckRequest(
        project_dir=args.project_dir,
        stacks=args.stack or [],
        deployment=getattr(args, "deployment", None),
        environment=getattr(args, "environment", None),
        policy_config=getattr(args, "policy_config", None),
        outputs=outputs,
        output_dir=getattr(args, "output_file_path", None),
        checks=[i for v in getattr(args, "check", None) or [] for i in v.split(",") if i],
        skips=[i for v in getattr(args, "skip_check", None) or [] for i in v.split(",") if i],
        suppressions=getattr(args, "suppressions", None),
        soft_fail=getattr(args, "soft_fail", False),
        quiet=getattr(args, "quiet", False),
        compact=getattr(args, "compact", False),
        verbose=args.verbose,
        use_cache=not args.no_cache,
        list_policies=getattr(args, "list_policies", False),
        as_json=getattr(args, "json", False),
    )


def cmd_preview(args: argparse.Namespace) -> int:
    from backupctl.offline.gate import preview  # noqa: PLC0415

    return preview(_request(args), args.out)


def cmd_check(args: argparse.Namespace) -> int:
    from backupctl.offline.gate import check  # noqa: PLC0415

    return check(_request(args))


def _preview_parser(sub: Any) -> None:
    p = sub.add_parser(
        "preview",
        help="run the program under mocks and write a stack-export deployment",
        description="Run __main__.py under Pulumi mocks with the stack's config (Pulumi.yaml "
        "defaults + Pulumi.STACK.yaml) and summarise the resources; --out writes the deployment.",
    )
    p.add_argument(
        "--stack", action="append", help="stack name, repeatable (default: every Pulumi.*.yaml stack)"
    )
    p.add_argument("--out", help="write the deployment JSON (pulumi stack export shape) here")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-cache", action="store_true", help="preview afresh; neither read nor write .cache/")
    p.add_argument("--verbose", "-v", action="store_true", help="say which values are secure, and cache hits")
    p.set_defaults(handler=cmd_preview)


def register(sub: Any) -> None:
    _preview_parser(sub)
    p = sub.add_parser(
        "check",
        help="run the runbook policies over a previewed stack or a stack export",
        description="Run the CrossGuard pack's policies offline. With no --stack or --deployment, every "
        "Pulumi.*.yaml stack is previewed under mocks and checked. Exit 0 clean, 1 a mandatory violation, "
        "2 bad input or nothing to check.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--stack", action="append", help="preview this stack under mocks, then check it; repeatable"
    )
    source.add_argument(
        "--deployment", help="a `pulumi stack export` JSON file (also of a deployed stack); - for stdin"
    )
    p.add_argument(
        "--environment",
        choices=("staging", "prod"),
        help="with --deployment: check it as this environment (default: prod when its environment output "
        "or its stack name says prod, e.g. prod, production, prod-eu; else staging rules)",
    )
    p.add_argument("--policy-config", help="the JSON file `pulumi preview --policy-pack-config` takes")
    p.add_argument(
        "--output", "-o", action="append", help="cli, json, sarif, junitxml; comma list or repeated"
    )
    p.add_argument(
        "--output-file-path", help="write each format to DIR/results_<format>.<ext>; cli also printed"
    )
    p.add_argument("--json", action="store_true", help="same as --output json")
    p.add_argument("--sarif", action="store_true", help="same as --output sarif")
    p.add_argument("--check", "-c", action="append", help="only these policies (names, globs or control IDs)")
    p.add_argument("--skip-check", action="append", help="not these policies (names, globs or control IDs)")
    p.add_argument("--suppressions", help='JSON {"suppressions": [{"policy", "resource", "reason"}]}')
    p.add_argument("--soft-fail", action="store_true", help="exit 0 whatever is found (bad input is still 2)")
    p.add_argument("--quiet", action="store_true", help="the table lists only FAIL and WARN")
    p.add_argument("--compact", action="store_true", help="the table has one line per finding")
    p.add_argument("--list-policies", action="store_true", help="list the policies, config keys and floors")
    p.add_argument("--no-cache", action="store_true", help="preview afresh; neither read nor write .cache/")
    p.add_argument("--verbose", "-v", action="store_true", help="list passing and not-applicable checks too")
    p.set_defaults(handler=cmd_check)
