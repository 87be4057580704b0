"""How `backupctl preview` and `check` get each stack's deployment fast and interruptibly (runbook 1-4 are
checked on every edit, so the check must be quick): from a cache, or by previewing the stacks in forked
worker processes, all at once.

The cache lives under the project's ``.cache/backupctl/previews/`` and is keyed on a hash of the program
files (every ``*.py`` of the project, backupctl's own preview code), the project and stack files and the
installed package versions (the ``*.dist-info`` names on ``sys.path``) and the Python version: any change
to one of them is a miss. ``--no-cache`` neither reads nor writes it; ``-v`` says hit or miss and where.

Workers are forked after the heavy imports, one per stack, and send their deployment back on a pipe; the
parent only waits. Ctrl-C or SIGTERM in the parent stops and reaps every worker at once (they ignore
nothing and print nothing), so an interrupted check ends within a second with 130/143 and leaves no file.
Stack files are read in the parent first: a bad stack is refused before any preview starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import os
import selectors
import signal
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backupctl.errors import BadInput
from backupctl.files import write_atomic
from backupctl.offline.stackconfig import StackConfig, load_stack_config

CACHE_DIR = Path(".cache") / "backupctl" / "previews"
WORKER_TIMEOUT = 600.0  # seconds without a byte from any worker: a hung worker is a bug, not a wait
SKIP_DIRS = {".venv", ".git", ".cache", "node_modules", "__pycache__", "build", "venv"}


@dataclass(frozen=True)
class Preview:
    config: StackConfig
    deployment: dict[str, Any]
    cached: bool


def _program_files(root: Path) -> list[Path]:
    files = []
    for directory, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        files += [Path(directory) / n for n in sorted(names) if n.endswith(".py")]
    here = Path(__file__).resolve().parent
    return files + [here / n for n in ("preview.py", "mocks.py", "stackconfig.py", "previews.py")]


def _installed() -> list[str]:
    names: set[str] = set()
    for entry in sys.path:
        try:
            names |= {n for n in os.listdir(entry or ".") if n.endswith(".dist-info")}
        except OSError:
            continue
    return sorted(names)


def cache_key(config: StackConfig) -> str:
    digest = hashlib.sha256(sys.version.encode())
    root = config.project_dir
    for path in [root / "Pulumi.yaml", root / f"Pulumi.{config.stack}.yaml", *_program_files(root)]:
        digest.update(str(path).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
    digest.update("\n".join(_installed()).encode())
    return digest.hexdigest()[:32]


def _cache_file(config: StackConfig) -> Path:
    return config.project_dir / CACHE_DIR / f"{config.stack}-{cache_key(config)}.json"


def _from_cache(file: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "deployment" in data else None


def _store(file: Path, deployment: dict[str, Any]) -> str:
    """Write the cache entry and drop the stack's stale ones; a read-only project just goes uncached."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(file, json.dumps(deployment))
        for stale in file.parent.glob(f"{file.name.rsplit('-', 1)[0]}-*.json"):
            if stale != file:
                stale.unlink(missing_ok=True)
    except (OSError, BadInput) as exc:
        return f"not cached ({exc})"
    return f"cached in {file}"


def _child(config: StackConfig, write_fd: int, mask: Iterable[int]) -> None:
    """In the forked worker: preview, send {"ok": deployment} or {"error": ...}, exit without cleanup."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # the parent's mask, now that the defaults are in place
    # The parent's event loop (if it ran a preview itself, as tests do) has an executor whose threads
    # were not forked: a fresh loop gets a fresh executor.
    asyncio.set_event_loop(asyncio.new_event_loop())
    # A worker lives for one preview: collecting the mock engine's many short-lived objects costs a fifth
    # of its time, so collect rarely (memory stays bounded; 200 databases still fit in a few hundred MB).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    code = 0
    try:
        from backupctl.offline.preview import run_stack  # noqa: PLC0415

        message: dict[str, Any] = {"ok": run_stack(config)}
    except BadInput as exc:
        message = {"error": str(exc)}
    except Exception as exc:  # a bug: the parent reports it as an internal error
        message = {"internal": f"{type(exc).__name__}: {exc}"}
    try:
        with os.fdopen(write_fd, "wb") as out:
            out.write(json.dumps(message).encode())
    except OSError:
        code = 1
    os._exit(code)


def _collect(workers: dict[int, tuple[int, str]]) -> dict[str, dict[str, Any]]:
    """Read every worker's pipe to the end (concurrently, so no worker blocks on a full pipe)."""
    chunks: dict[int, list[bytes]] = {fd: [] for fd in workers}
    with selectors.DefaultSelector() as selector:
        for fd in workers:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            ready = selector.select(timeout=WORKER_TIMEOUT)
            if not ready:
                raise RuntimeError(f"no preview worker answered in {WORKER_TIMEOUT:.0f} s")
            for key, _ in ready:
                data = os.read(key.fd, 1 << 20)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
    messages = {}
    for fd, (_, stack) in workers.items():
        try:
            messages[stack] = json.loads(b"".join(chunks[fd]) or b"{}")
        except ValueError:
            messages[stack] = {}
    return messages


def _stop(workers: dict[int, tuple[int, str]]) -> None:
    """Kill (if still running) and reap every worker, close every pipe: nothing outlives the parent."""
    for fd, (pid, _) in workers.items():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            os.close(fd)


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def _fork(config: StackConfig) -> tuple[int, tuple[int, str]]:
    read_fd, write_fd = os.pipe()
    # A signal landing during fork would run its handler inside the after-fork hooks (logging's
    # _releaseLock), where the exception it raises is printed and dropped: the Ctrl-C is lost. Hold the
    # stop signals over the fork; they are delivered, as an ordinary exception, once unblocked.
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker ends in os._exit
            os.close(read_fd)
            _child(config, write_fd, held)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    os.close(write_fd)
    return read_fd, (pid, config.stack)


def _state(cached: bool, use_cache: bool, file: Path | None) -> str:
    if not use_cache:
        return "cache off (--no-cache)"
    return f"cache hit {file}" if cached else "cache miss"


class PreviewRun:
    """The stacks' previews, started at once: cached ones read, the others forked into workers that run
    while the caller does other work (the policy imports, the policy config's validation); ``results``
    waits for them. Leaving the ``with`` block by any path kills and reaps every worker."""

    def __init__(self, root: Path, stacks: Sequence[str], *, use_cache: bool = True, verbose: bool = False):
        self.configs = [load_stack_config(root, stack) for stack in stacks]
        self.use_cache, self.verbose = use_cache, verbose
        self.files = {c.stack: _cache_file(c) for c in self.configs} if use_cache else {}
        self.found: dict[str, dict[str, Any]] = {}
        self.workers: dict[int, tuple[int, str]] = {}
        self.missing: list[StackConfig] = []

    def __enter__(self) -> PreviewRun:
        for config in self.configs:
            cached = _from_cache(self.files[config.stack]) if self.use_cache else None
            if cached is not None:
                self.found[config.stack] = cached
            if self.verbose:
                for key in config.secret_keys:
                    print(
                        f"  {key} is a secure value: not decrypted offline, taken as valid", file=sys.stderr
                    )
                state = _state(cached is not None, self.use_cache, self.files.get(config.stack))
                print(f"stack {config.stack}: {state}", file=sys.stderr)
        self.missing = [c for c in self.configs if c.stack not in self.found]
        if self.missing:
            import backupctl.offline.preview  # noqa: F401, PLC0415 - the heavy imports, once, before forking

            if self.verbose:
                print(
                    f"previewing {', '.join(c.stack for c in self.missing)} under mocks ...", file=sys.stderr
                )
            for config in self.missing:
                fd, worker = _fork(config)
                self.workers[fd] = worker
        return self

    def __exit__(self, *_: object) -> None:
        _stop(self.workers)
        self.workers = {}

    def results(self) -> list[Preview]:
        """Every stack's deployment, in the order asked; a worker's bad input is raised here."""
        if self.workers:
            messages = _collect(self.workers)
            _stop(self.workers)
            self.workers = {}
            for config in self.missing:
                message = messages[config.stack]
                if "error" in message:
                    raise BadInput.message(message["error"])
                if "ok" not in message:
                    raise RuntimeError(
                        message.get("internal") or f"the preview worker of {config.stack} died"
                    )
                self.found[config.stack] = message["ok"]
                note = _store(self.files[config.stack], message["ok"]) if self.use_cache else ""
                if self.verbose and note:
                    print(f"stack {config.stack}: {note}", file=sys.stderr)
        fresh = {c.stack for c in self.missing}
        return [Preview(c, self.found[c.stack], c.stack not in fresh) for c in self.configs]


def preview_stacks(
    root: Path, stacks: Sequence[str], *, use_cache: bool = True, verbose: bool = False
) -> list[Preview]:
    """Each stack's deployment, in ``stacks`` order: cached, or previewed by forked workers at once."""
    with PreviewRun(root, stacks, use_cache=use_cache, verbose=verbose) as run:
        return run.results()
