"""The backupctl command line: one entry point, one module per command group.

``check`` (preview, check), ``live`` (verify), ``config``, ``kms``, ``drill``, ``backup`` and ``adopt``
each add their sub-commands here; a command parses its arguments, calls one function and maps the result to an
exit code, for CI: 0 clean, 1 a mandatory check failed, 2 bad input or a refused operation. Errors a
user can fix print as one line on stderr; there are no tracebacks for bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from backupctl import __version__
from backupctl.cli import adopt, backup, check, config, drill, kms, live
from backupctl.errors import BadInput, RefusedError

Handler = Callable[[argparse.Namespace], int]
GROUPS = (check, live, config, kms, drill, backup, adopt)


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
    for group in GROUPS:
        group.register(sub)
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
