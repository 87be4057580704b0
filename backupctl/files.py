"""Files a user names on the command line, read and written so that nothing is half-done (runbook 4: every
output is evidence someone may rely on).

Reads turn every way a path can be wrong (missing, a directory, unreadable, not UTF-8, not JSON, numbers
JSON cannot hold) into one ``BadInput`` line naming the option and file. Writes go to a temporary file
in the same directory that is renamed into place, so a failure leaves an existing file unchanged and no
partial file behind; ``check_writable`` lets a command refuse an unusable output path before it starts
any work.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from backupctl.errors import BadInput

MAX_INT_DIGITS = 30  # nothing this tool reads counts past 10**30; longer numbers are mistakes or attacks


def _where(what: str, path: str | Path) -> str:
    return f"{what} {path}" if what else str(path)


def read_text(path: str | Path, what: str = "", expected: str = "a readable UTF-8 file") -> str:
    """The file's text, or one BadInput line: missing, a directory, unreadable, not UTF-8."""
    where = _where(what, path)
    file = Path(path)
    try:
        mode = file.stat().st_mode
    except FileNotFoundError:
        raise BadInput(where, expected, "no such file") from None
    except OSError as exc:
        raise BadInput(where, expected, exc.strerror or str(exc)) from None
    if stat.S_ISDIR(mode):
        raise BadInput(where, expected, "a directory")
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(where, expected, f"bytes that are not UTF-8 at offset {exc.start}") from None
    except OSError as exc:
        raise BadInput(where, expected, exc.strerror or str(exc)) from None


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"a {len(text.lstrip('-'))}-digit number")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str) -> Any:
    """``json.loads`` that refuses what JSON cannot carry faithfully: NaN, Infinity, 1e400, huge integers."""
    return json.loads(text, parse_float=_finite, parse_int=_bounded_int, parse_constant=_no_constant)


def parse_json(text: str, where: str, expected: str) -> Any:
    try:
        return loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            where, expected, f"invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise BadInput(where, expected, f"invalid JSON ({exc})") from None


def read_json(path: str | Path, what: str = "", expected: str = "a JSON file") -> Any:
    return parse_json(read_text(path, what, expected), _where(what, path), expected)


def check_writable(path: str | Path, what: str = "") -> Path:
    """Refuse, before any work starts, an output path that cannot be written: a directory, a missing or
    read-only parent directory. Returns the path."""
    file = Path(path)
    where = _where(what, path)
    if file.is_dir():
        raise BadInput(where, "a file path to write", "a directory")
    parent = file.parent if str(file.parent) else Path(".")
    if not parent.is_dir():
        raise BadInput(where, "a file in an existing directory", f"no directory {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadInput(where, "a file in a writable directory", f"{parent} is not writable")
    if file.exists() and not os.access(file, os.W_OK):
        raise BadInput(where, "a writable file", "a read-only file")
    return file


def check_directory(path: str | Path, what: str = "", *, create: bool = True) -> Path:
    """An output directory that exists (or can be created) and is writable; refused before any work."""
    directory = Path(path)
    where = _where(what, path)
    if directory.exists() and not directory.is_dir():
        raise BadInput(where, "a directory", "a file")
    if not directory.exists():
        if not create:
            raise BadInput(where, "an existing directory", "no such directory")
        try:
            directory.mkdir(parents=True)
        except OSError as exc:
            raise BadInput(where, "a directory that can be created", exc.strerror or str(exc)) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise BadInput(where, "a writable directory", "not writable")
    return directory


def write_atomic(path: str | Path, data: str | bytes, what: str = "") -> Path:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place: either the whole new
    content is there, or the old file (if any) is unchanged and nothing partial remains."""
    file = check_writable(path, what)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, temp = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".tmp", dir=file.parent or ".")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, file)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise BadInput(_where(what, path), "a writable file path", exc.strerror or str(exc)) from None
        raise
    return file


def write_json(path: str | Path, payload: object, what: str = "") -> Path:
    return write_atomic(path, json.dumps(payload, indent=2, default=str) + "\n", what)


def append_line(path: str | Path, line: str, what: str = "") -> None:
    """Append one whole line (one ``write`` on an O_APPEND descriptor: never a partial record)."""
    file = check_writable(path, what)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    try:
        fd = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        raise BadInput(_where(what, path), "a writable file", exc.strerror or str(exc)) from None
