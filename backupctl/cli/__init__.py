"""The backupctl command line: one entry point, one sub-command per runbook duty.

Exit codes, for CI: 0 clean, 1 a mandatory check failed, 2 bad input or a refused operation.
Errors a user can fix print as one line on stderr; there are no tracebacks for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from backupctl import __version__
from backupctl.errors import BadInput, RefusedError

Handler = Callable[[argparse.Namespace], int]


def _project_dir(args: argparse.Namespace) -> Path:
    from backupctl.stackconfig import find_project_dir  # noqa: PLC0415

    return find_project_dir(Path(args.project_dir)) if args.project_dir else find_project_dir()


def _write_json(path: str, payload: object) -> None:
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise BadInput(path, "a writable file path", exc.strerror) from None


def preview_summary(deployment: dict[str, Any]) -> dict[str, Any]:
    resources = deployment["deployment"]["resources"]
    by_component: Counter[str] = Counter()
    for r in resources:
        if r.get("custom") and r.get("parent"):
            parent_type = r["parent"].split("::")[2].split("$")[-1]
            by_component[parent_type] += 1
    outputs = resources[0].get("outputs", {}) if resources else {}
    return {
        "resources": sum(1 for r in resources if r.get("custom")),
        "components": sum(1 for r in resources if not r.get("custom")),
        "byComponent": dict(sorted(by_component.items())),
        "environment": outputs.get("environment"),
        "region": outputs.get("region"),
        "databases": [
            f"{d['identifier']} ({d['criticality']}, RPO {d['rpoMinutes']} min, RTO {d['rtoMinutes']} min)"
            for d in outputs.get("databases", [])
        ],
        "vault": outputs.get("vaultName"),
        "evidenceLock": f"{outputs.get('evidenceLockMode')} {outputs.get('evidenceLockDays')} days",
        "buckets": [
            outputs.get(k) for k in ("artifactsBucket", "evidenceBucket", "configBucket", "auditBucket")
        ],
    }


def cmd_preview(args: argparse.Namespace) -> int:
    from backupctl.preview import close_runtime, preview_stack  # noqa: PLC0415
    from backupctl.stackconfig import list_stacks  # noqa: PLC0415

    project_dir = _project_dir(args)
    stacks = [args.stack] if args.stack else list_stacks(project_dir)
    results = {}
    try:
        for stack in stacks:
            print(f"previewing stack {stack} under mocks ...", file=sys.stderr)
            deployment = preview_stack(project_dir, stack)
            if args.out:
                out = args.out if len(stacks) == 1 else str(Path(args.out).with_suffix("")) + f".{stack}.json"
                _write_json(out, deployment)
                print(f"wrote {out}", file=sys.stderr)
            results[stack] = preview_summary(deployment)
    finally:
        close_runtime()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for stack, summary in results.items():
        print(
            f"Stack {stack}: {summary['resources']} resources in {summary['components']} components "
            f"({summary['environment']}, {summary['region']})"
        )
        for component, count in summary["byComponent"].items():
            print(f"  {component:<40} {count:>4}")
        print(f"  databases:     {'; '.join(summary['databases'])}")
        print(f"  backup vault:  {summary['vault']}")
        print(f"  evidence lock: {summary['evidenceLock']}")
        print(f"  buckets:       {', '.join(str(b) for b in summary['buckets'])}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backupctl",
        description="Operate the Maestro Backup and Restore Runbook: offline preview and compliance check, "
        "live verification, config backup, KMS validation and restore drills.",
        epilog="Exit codes: 0 clean, 1 a mandatory check failed, 2 bad input or refused.",
    )
    parser.add_argument("--version", action="version", version=f"backupctl {__version__}")
    parser.add_argument("--project-dir", help="the Pulumi project (default: the nearest Pulumi.yaml upward)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "preview",
        help="run the program under mocks and write a stack-export deployment",
        description="Run __main__.py under Pulumi mocks with the stack's config (Pulumi.yaml "
        "defaults + Pulumi.STACK.yaml) and summarise the resources; --out writes the deployment.",
    )
    p.add_argument("--stack", help="stack name (default: every Pulumi.*.yaml stack)")
    p.add_argument("--out", help="write the deployment JSON (pulumi stack export shape) here")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=cmd_preview)

    from backupctl import commands  # noqa: PLC0415

    commands.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (BadInput, RefusedError) as exc:
        print(f"backupctl: error: {exc}", file=sys.stderr)
        return 2
    except NoCredentialsError:
        print(
            "backupctl: error: AWS credentials: expected a profile, environment variables or a role, "
            "found none",
            file=sys.stderr,
        )
        return 2
    except (ClientError, BotoCoreError) as exc:
        # An AWS call failed for a reason the checks do not expect (access denied, throttled past retries).
        print(f"backupctl: error: AWS: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("backupctl: interrupted", file=sys.stderr)
        return 130
