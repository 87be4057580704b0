"""Files a user names on the command line, read and written so that nothing is half-done (runbook 4: every
output is evidence someone may rely on).

Reads turn every way a path can be wrong (missing, a directory, unreadable, not UTF-8, not JSON, numbers
JSON cannot hold) into one ``BadInput`` line naming the option and file. Writes go to a temporary file
in the same directory that is renamed into place, so a failure leaves an existing file unchanged and no
partial file behind (through a symlink to its target; a FIFO or device such as /dev/stdout is written
through, never replaced); ``check_writable`` lets a command refuse an unusable output path before it starts
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


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_through(target: Path, payload: bytes, where: str) -> None:
    """Write into what is already there and is no regular file: a FIFO, a terminal, ``/dev/stdout``,
    ``/dev/null``. There is nothing to rename over (and replacing a device node would break the system)."""
    try:
        with open(target, "wb") as out:
            out.write(payload)
            out.flush()
    except OSError as exc:
        raise BadInput(where, "a writable file path", exc.strerror or str(exc)) from None


def write_atomic(path: str | Path, data: str | bytes, what: str = "") -> Path:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place: either the whole new
    content is there, or the old file (if any) is unchanged and nothing partial remains. A symlink is
    followed (the link stays, its target gets the content); a FIFO or device is written through. A new
    file gets the mode the umask gives (like ``>``), a replaced one keeps its mode."""
    file = check_writable(path, what)
    where = _where(what, path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if file.exists() and not file.is_file():  # (stat follows links: /dev/stdout -> a pipe or a tty)
        _write_through(file, payload, where)
        return file
    target = Path(os.path.realpath(file))
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o666 & ~_umask()
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise BadInput(where, "a writable file path", exc.strerror or str(exc)) from None
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


def yaml_error(exc: Exception, path: str | Path, what: str = "") -> BadInput:
    """A YAML parse error as one line naming the file and line: ``--smoke s.yaml:3: expected valid YAML``."""
    mark = getattr(exc, "problem_mark", None)
    where = _where(what, path) + (f":{mark.line + 1}" if mark is not None else "")
    return BadInput(where, "valid YAML", str(getattr(exc, "problem", None) or exc).splitlines()[0])
