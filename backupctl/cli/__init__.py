"""The backupctl command line: one entry point, one module per command group.

``check`` (preview, check), ``live`` (verify), ``config``, ``kms``, ``drill``, ``backup`` and ``adopt``
each add their sub-commands here; a command parses its arguments, calls one function and maps the result to an
exit code. Exit codes, for CI: 0 clean, 1 a mandatory check failed, 2 bad input or a refused operation,
3 an internal error (a bug: report it), 130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP. Errors a user
can fix print as one line on stderr; there are no tracebacks for bad input, and a closed pipe
(``backupctl check --json | head``) ends quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
import traceback
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from typing import NoReturn

from backupctl import __version__
from backupctl.cli import adopt, backup, check, config, drill, kms, live
from backupctl.errors import BadInput, Interrupted, RefusedError

Handler = Callable[[argparse.Namespace], int]
GROUPS = (check, live, config, kms, drill, backup, adopt)
EXIT_INTERNAL = 3
EXIT_PIPE = 128 + signal.SIGPIPE
DEBUG_ENV = "BACKUPCTL_DEBUG"


class Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as the one line every other error is (sub-parsers inherit it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"backupctl: error: {message} (see `{self.prog} --help`)\n")


def _sub_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser below ``parser``: command groups (``config``) and their commands (``config list``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield child
                yield from _sub_parsers(child)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="backupctl",
        description="Operate the Maestro Backup and Restore Runbook: offline preview and compliance check, "
        "live verification, config backup, KMS validation and restore drills.",
        epilog="Exit codes: 0 clean, 1 a mandatory check failed, 2 bad input or refused, 3 internal error, "
        "130/143/129 interrupted (SIGINT/SIGTERM/SIGHUP).",
    )
    parser.add_argument("--version", action="version", version=f"backupctl {__version__}")
    project_help = "the Pulumi project (default: the nearest Pulumi.yaml upward)"
    parser.add_argument("--project-dir", help=project_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    for child in _sub_parsers(parser):  # also accepted after any sub-command; SUPPRESS keeps an earlier one
        child.add_argument("--project-dir", default=argparse.SUPPRESS, help=project_help)
        child.set_defaults(parser_=child)  # the deepest command's parser, to point its errors at its help
    return parser


def _raise_interrupted(signum: int, _frame: object) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind the stack like Ctrl-C does, so every cleanup runs."""
    previous = {s: signal.signal(s, _raise_interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def one_line(text: str) -> str:
    """``text`` with control characters escaped: a key or value from the user's file (a "\r" in a JSON
    key) must not split the one error line a script reads."""
    return "".join(repr(c)[1:-1] if unicodedata.category(c) == "Cc" else c for c in text)


def _error(text: str) -> None:
    print(f"backupctl: error: {one_line(text)}", file=sys.stderr, flush=True)


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so what it still buffers cannot fail again at exit."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _quiet_pipe() -> int:
    """stdout's reader went away (`| head`): drop what is buffered and end like other Unix tools."""
    _drop_stdout()
    return EXIT_PIPE


def _aws_error(exc: Exception) -> str | None:
    """The one line for an AWS failure, or None. botocore is only looked at when a command loaded it,
    so the offline commands start without it."""
    if "botocore.exceptions" not in sys.modules:
        return None
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError  # noqa: PLC0415

    if isinstance(exc, NoCredentialsError):
        return "AWS credentials: expected a profile, environment variables or a role, found none"
    if isinstance(exc, (ClientError, BotoCoreError)):
        # An AWS call failed for a reason the checks do not expect (access denied, throttled past retries).
        return f"AWS: {exc}"
    return None


def run(args: argparse.Namespace) -> int:
    handler: Handler = args.handler
    try:
        with _signals_unwind():
            return handler(args)
    except (BadInput, RefusedError) as exc:
        _error(str(exc))
        return 2
    except KeyboardInterrupt:
        print("backupctl: interrupted (SIGINT)", file=sys.stderr, flush=True)
        return 128 + signal.SIGINT
    except Interrupted as stop:
        print(f"backupctl: interrupted ({signal.Signals(stop.signum).name})", file=sys.stderr, flush=True)
        return 128 + stop.signum
    except BrokenPipeError:
        return _quiet_pipe()
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno in NO_ROOM:
            return _no_room(exc)
        aws = _aws_error(exc)
        if aws is not None:
            _error(aws)
            return 2
        return _internal(exc)


def _internal(exc: BaseException) -> int:
    """A bug, not the user's mistake: never exit 1, which means "a check failed"."""
    if os.environ.get(DEBUG_ENV):
        traceback.print_exception(exc)
    _error(f"internal error: {type(exc).__name__}: {exc} (a bug; set {DEBUG_ENV}=1 for the traceback)")
    return EXIT_INTERNAL


# A full disk or quota, a file too large, a failing device: where the output goes, not a bug.
NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)


def _no_room(exc: OSError) -> int:
    where = exc.filename or "standard output"
    _error(f"{where}: expected room to write the output, found {exc.strerror or exc}")
    _drop_stdout()
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            getattr(args, "parser_", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as done:  # --help, --version, or a usage error already printed: its code, returned
        code = done.code if isinstance(done.code, int) else 0
    else:
        code = run(args)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = _quiet_pipe()
    except OSError as exc:
        if exc.errno not in NO_ROOM:
            raise
        code = _no_room(exc)
    return code
