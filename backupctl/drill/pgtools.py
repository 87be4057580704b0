"""Local PostgreSQL for the drill (runbook 2): the installed binaries, throwaway servers, SQL via psql.

Every server lives in a work directory this module creates and removes; it listens on 127.0.0.1 on a free
port with its socket inside that directory, so nothing outside is touched. As root the server binaries
run as the ``postgres`` user (``runuser``), and the work directory is created outside root-only temp
dirs and handed to that user. Client tools connect over TCP with the trust auth of these throwaway
clusters; for a real database (``--dsn``) libpq's own environment and ``~/.pgpass`` apply.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from backupctl.errors import BadInput

SERVER_USER = "postgres"
START_TIMEOUT_SECONDS = 60
T = TypeVar("T")
R = TypeVar("R")


class PgError(Exception):
    """A PostgreSQL tool failed. The message is one bounded line naming the cause (the tool's own reason,
    not its last words); ``log`` keeps everything it wrote, for the report's log file."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


MAX_LINE = 300
# Causes named first wherever they appear, whatever a tool printed after them.
ROOT_CAUSES = ("No space left on device", "Disk quota exceeded", "Read-only file system", "Out of memory")
# Last words, never the reason: a dead worker, a summary, initdb tidying up.
LAST_WORDS = (
    "a worker process died unexpectedly",
    "errors ignored on restore",
    "removing data directory",
    "removing contents of data directory",
)
# Consequences of a server that went away: the reason only when nothing better was said (the server's
# own log usually has it: ``LocalServer.crash``).
CONSEQUENCES = (
    "terminating connection because of crash of another server process",
    "server closed the connection unexpectedly",
    "the database system is in recovery mode",
    "connection to server was lost",
)
ERROR_MARKS = ("error:", "ERROR:", "FATAL:", "PANIC:", "failed:")


def one_line(text: str, limit: int = MAX_LINE) -> str:
    """``text`` as one line of at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def cause(text: str, fallback: str = "no message") -> str:
    """The line of a tool's or server's output that says why it failed, with the hint that follows it:
    a root cause (a full disk) wherever it is, else the first error that is not a consequence of another."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]

    def with_hint(i: int) -> str:
        hint = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith("HINT:") else ""
        return one_line(f"{lines[i]} ({hint})" if hint else lines[i])

    for needle in ROOT_CAUSES:
        for i, line in enumerate(lines):
            if needle in line:
                return with_hint(i)
    errors = [i for i, line in enumerate(lines) if any(m in line for m in ERROR_MARKS)]
    for skip in (LAST_WORDS + CONSEQUENCES, LAST_WORDS):
        for i in errors:
            if not any(c in lines[i] for c in skip):
                return with_hint(i)
    return one_line(lines[-1]) if lines else fallback


# Every tool this process is running, so an interruption can stop them before it waits for any thread.
_children: set[subprocess.Popen[str]] = set()
_children_lock = threading.Lock()


def stop_children(grace: float = 2.0) -> None:
    """Terminates every PostgreSQL tool still running (an interruption unwinds faster than they end)."""
    with _children_lock:
        running = [p for p in _children if p.poll() is None]
    for proc in running:
        with contextlib.suppress(OSError):
            proc.terminate()
    deadline = time.monotonic() + grace
    for proc in running:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                proc.kill()


def run(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    what: str = "",
    stdin: str | None = None,
    detach: bool = False,
) -> str:
    """Runs a tool to completion; its stdout, or ``PgError`` with the cause and the whole stderr.
    ``detach``: in a session of its own, so a Ctrl-C at the terminal does not reach it (server control:
    a repeated Ctrl-C must not kill the ``pg_ctl stop`` of the cleanup; this process stops it if need be)."""
    args = list(argv)
    name = what or Path(args[args.index("--") + 1] if "--" in args else args[0]).name
    proc = subprocess.Popen(
        args,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=detach,
    )
    with _children_lock:
        _children.add(proc)
    try:
        out, err = proc.communicate(stdin)
    except BaseException:
        proc.kill()  # interrupted while waiting: never leave the tool running behind us
        proc.wait()
        raise
    finally:
        with _children_lock:
            _children.discard(proc)
    if proc.returncode != 0:
        raise PgError(f"{name} failed: {cause(err, f'exit {proc.returncode}')}", log=err)
    return out


def parallel(function: Callable[[T], R], items: Sequence[T], jobs: int) -> list[R]:
    """``function`` over ``items``, ``jobs`` at a time; an interruption stops the tools the workers run
    first, so it does not wait for them to finish."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        try:
            return list(pool.map(function, items))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            stop_children()
            raise


def bindir() -> Path:
    """The PostgreSQL binaries: $PG_BINDIR, else `pg_config --bindir`, else the PATH."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    return _found_bindir()


@functools.cache
def _found_bindir() -> Path:
    """Looked up once: a cleanup that asks again while signals fly must get the same answer."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False, start_new_session=True
        )
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    found = shutil.which("pg_dump")
    if not found:
        raise BadInput("PostgreSQL binaries", "pg_config or pg_dump on PATH (or PG_BINDIR)", "none")
    return Path(found).parent


def tool(name: str) -> str:
    path = bindir() / name
    if not path.exists():
        raise BadInput(f"PostgreSQL tool {name}", f"{path} to exist", "missing")
    return str(path)


def server_user() -> pwd.struct_passwd:
    """The account servers run as when we are root (initdb and postgres refuse to run as root)."""
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise BadInput(
            f"user {SERVER_USER}", "an account to run PostgreSQL as when backupctl runs as root", "none"
        ) from None


def as_server_user() -> list[str]:
    """The prefix that runs a server binary as `postgres` when we are root (initdb refuses root)."""
    return ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_workdir(prefix: str, base: str | None = None) -> Path:
    """A fresh directory the server user owns, outside root-only temp dirs."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base or tempfile.gettempdir()))
    if os.geteuid() == 0:
        user = server_user()
        os.chown(path, user.pw_uid, user.pw_gid)
    path.chmod(0o700)
    return path


def chown_tree(path: Path) -> None:
    if os.geteuid() != 0:
        return
    user = server_user()
    for root, dirs, files in os.walk(path):
        os.chown(root, user.pw_uid, user.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid, follow_symlinks=False)


@dataclass
class Conn:
    """Where a client tool connects. ``dsn`` overrides host/port/user for an existing database."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    dbname: str = "postgres"
    dsn: str | None = None
    # libpq environment for this connection (PGPASSWORD, PGSSLMODE); never printed or stored.
    env: dict[str, str] = field(default_factory=dict, repr=False)

    def args(self, dbname: str | None = None) -> list[str]:
        if self.dsn:
            return ["--dbname", self.dsn if dbname is None else _replace_db(self.dsn, dbname)]
        return ["-h", self.host, "-p", str(self.port), "-U", self.user, "-d", dbname or self.dbname]

    def server_args(self) -> list[str]:
        """For tools that take a connection string, not a database (pg_basebackup)."""
        if self.dsn:
            return ["--dbname", self.dsn]
        return ["-h", self.host, "-p", str(self.port), "-U", self.user]

    def with_db(self, dbname: str) -> Conn:
        dsn = _replace_db(self.dsn, dbname) if self.dsn else None
        return Conn(self.host, self.port, self.user, dbname, dsn, dict(self.env))


def _replace_db(dsn: str, dbname: str) -> str:
    if dsn.startswith(("postgres://", "postgresql://")):
        head, _, tail = dsn.partition("?")
        base = head.rsplit("/", 1)[0] if head.count("/") > 2 else head
        return f"{base}/{dbname}" + (f"?{tail}" if tail else "")
    return f"{dsn} dbname={dbname}"


def sql(conn: Conn, query: str) -> list[list[str]]:
    """Runs one statement with psql; rows as lists of text (unaligned, tab-separated)."""
    out = run(
        [
            tool("psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-F",
            "\t",
            "-v",
            "ON_ERROR_STOP=1",
            *conn.args(),
            "-c",
            query,
        ],
        env=conn.env,
        what="psql",
    )
    return [line.split("\t") for line in out.splitlines() if line]


def check_reachable(conn: Conn, what: str = "--dsn") -> str:
    """The database's name; before any work, a ``BadInput`` with the host, port and the server's own
    message when it cannot be reached (the connection string itself is never repeated: it may hold a
    password)."""
    env = {"PGCONNECT_TIMEOUT": os.environ.get("PGCONNECT_TIMEOUT", "10"), **conn.env}
    try:
        out = run(
            [tool("psql"), "-X", "-q", "-A", "-t", *conn.args(), "-c", "select current_database()"],
            env=env,
            what="psql",
        )
    except PgError as exc:
        message = " ".join(line.strip() for line in exc.log.splitlines() if line.strip())
        message = message.removeprefix("psql: error: ") or str(exc)
        raise BadInput(what, "a PostgreSQL database this host can reach", one_line(message)) from None
    return out.strip()


def check_workdir(path: str, what: str = "--workdir") -> Path:
    """An existing directory this process can write and, as root, the server user can reach (the
    servers' data directories live inside it)."""
    directory = Path(path)
    if not directory.exists():
        raise BadInput(f"{what} {path}", "an existing directory", "no such directory")
    if not directory.is_dir():
        raise BadInput(f"{what} {path}", "a directory", "a file")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise BadInput(f"{what} {path}", "a writable directory", "not writable (or on a read-only mount)")
    if os.geteuid() == 0:
        user = server_user()
        for part in [directory.resolve(), *directory.resolve().parents]:
            info = part.stat()
            if info.st_uid == user.pw_uid:
                ok = bool(info.st_mode & stat.S_IXUSR)
            elif info.st_gid == user.pw_gid:
                ok = bool(info.st_mode & stat.S_IXGRP)
            else:
                ok = bool(info.st_mode & stat.S_IXOTH)
            if not ok:
                raise BadInput(
                    f"{what} {path}",
                    f"a directory the {SERVER_USER} user can reach (the servers run as {SERVER_USER})",
                    f"{part} closed to it (mode {stat.S_IMODE(info.st_mode):o})",
                )
    return directory


def scalar(conn: Conn, query: str) -> str:
    rows = sql(conn, query)
    return rows[0][0] if rows and rows[0] else ""


@dataclass
class LocalServer:
    """A throwaway cluster: ``init`` or ``from_base`` prepares the data dir, ``start``/``stop`` run it."""

    root: Path
    port: int = field(default_factory=free_port)
    process_started: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def conn(self) -> Conn:
        return Conn(port=self.port)

    def init(self, *, archive_dir: Path | None = None) -> LocalServer:
        run(
            [
                *as_server_user(),
                tool("initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
            what="initdb",
            detach=True,
        )
        settings = [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.root}'",
            "fsync = off",  # a throwaway cluster: crash safety buys nothing here
            "max_wal_senders = 4",
            "wal_level = replica",
        ]
        if archive_dir is not None:
            settings += ["archive_mode = on", f"archive_command = 'cp %p {archive_dir}/%f'"]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# maestro-backup drill\n" + "\n".join(settings) + "\n")
        return self

    def recover_to(self, base: Path, archive_dir: Path, target_time: str) -> LocalServer:
        """A copy of a base backup that replays archived WAL up to ``target_time``, then promotes."""
        try:
            shutil.copytree(base, self.data)
        except shutil.Error as exc:  # one entry per file that failed: name the first reason, log them all
            failures = (
                [str(why) for _, _, why in exc.args[0]] if exc.args and isinstance(exc.args[0], list) else []
            )
            log = "\n".join(failures) or str(exc)
            raise PgError(f"copying the base backup failed: {cause(log)}", log=log) from None
        for stale in ("postmaster.pid", "standby.signal"):
            (self.data / stale).unlink(missing_ok=True)
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# maestro-backup drill: point-in-time recovery\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\n"
                "archive_mode = off\n"
                f"restore_command = 'cp {archive_dir}/%f %p'\n"
                f"recovery_target_time = '{target_time}'\n"
                "recovery_target_action = 'promote'\n"
            )
        (self.data / "recovery.signal").touch()
        self.data.chmod(0o700)
        chown_tree(self.root)
        return self

    def start(self) -> LocalServer:
        log = self.root / "server.log"
        self.process_started = True  # set first: a start that times out may still leave a postmaster
        try:
            run(
                [
                    *as_server_user(),
                    tool("pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(log),
                    "-w",
                    "-t",
                    str(START_TIMEOUT_SECONDS),
                    "start",
                ],
                what="pg_ctl start",
                detach=True,
            )
        except PgError as exc:
            text = server_log_tail(log)
            raise PgError(
                f"pg_ctl start failed; server log: {cause(text, 'empty')}", log=f"{exc.log}\n{text}"
            ) from None
        return self

    def crash(self) -> str | None:
        """Why the server went down, when its log says (a PANIC, a full disk), else None."""
        lines = server_log_tail(self.root / "server.log").splitlines()
        crashed = [line for line in lines if "PANIC:" in line or any(c in line for c in ROOT_CAUSES)]
        return cause("\n".join(crashed)) if crashed else None

    def wait_promoted(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(PgError):
                if scalar(self.conn, "select pg_is_in_recovery()") == "f":
                    return
            if not pid_alive(self.pid()):
                break  # the server gave up (recovery failed): its log says why
            time.sleep(0.1)
        text = server_log_tail(self.root / "server.log")
        raise PgError(
            f"server on port {self.port} did not finish recovery: {cause(text, 'no server log')}", log=text
        )

    def stop(self) -> None:
        if not self.process_started:
            return
        try:
            argv = [*as_server_user(), tool("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]
            run(argv, detach=True)
        except Exception:  # whatever stopped pg_ctl, the server must not outlive the drill
            self._kill()
        self.process_started = False

    def _kill(self) -> None:
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        return None


def full_disk(path: Path, margin: int = 16 * 1024 * 1024) -> str | None:
    """ "No space left on device" with the free space, when the filesystem holding ``path`` is (nearly)
    full: PostgreSQL reports a partial write ("wrote only 4096 of 8192 bytes") without those words."""
    try:
        info = os.statvfs(path)
    except OSError:
        return None
    free = info.f_bavail * info.f_frsize
    return f"No space left on device ({free // 1024} KiB free under {path})" if free < margin else None


def server_log_tail(path: Path, lines: int = 200) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def pid_alive(pid: int | None) -> bool:
    """A process that still runs (a zombie waiting for its parent to reap it does not)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def add_server(root: Path, servers: list[LocalServer], name: str) -> LocalServer:
    """A not-yet-initialised server in ``root/name``, registered so ``workspace`` stops it."""
    path = root / name
    path.mkdir()
    chown_tree(path)
    server = LocalServer(path)
    servers.append(server)
    return server


@dataclass
class Workspace:
    """A work dir the server user owns plus the servers living in it; ``close`` stops every server and
    removes the dir, unless ``keep`` (servers left running for inspection)."""

    root: Path
    keep: bool = False
    servers: list[LocalServer] = field(default_factory=list)

    @classmethod
    def create(
        cls, prefix: str = "maestro-drill-", base: str | None = None, *, keep: bool = False
    ) -> Workspace:
        return cls(make_workdir(prefix, base), keep)

    def add_server(self, name: str) -> LocalServer:
        return add_server(self.root, self.servers, name)

    def close(self) -> None:
        if self.keep:
            return
        for server in self.servers:
            server.stop()  # never raises an Exception: one server's trouble does not keep the others running
        shutil.rmtree(self.root, ignore_errors=True)


def base_backup(conn: Conn, dest: Path) -> Path:
    """pg_basebackup with the WAL it needs streamed alongside (-X stream)."""
    run(
        [
            *as_server_user(),
            tool("pg_basebackup"),
            *conn.server_args(),
            "-D",
            str(dest),
            "-X",
            "stream",
            "-c",
            "fast",
            "--no-sync",
        ],
        what="pg_basebackup",
    )
    return dest


def switch_wal_and_wait(conn: Conn, archive: Path, timeout: float = 30) -> None:
    """Closes the current WAL segment and waits until archive_command has copied it."""
    segment = scalar(conn, "select pg_walfile_name(pg_current_wal_lsn())")
    sql(conn, "select pg_switch_wal()")
    deadline = time.monotonic() + timeout
    while not (archive / segment).exists():
        if time.monotonic() > deadline:
            raise PgError(f"WAL segment {segment} was not archived within {timeout:.0f} s")
        time.sleep(0.05)


@contextlib.contextmanager
def workspace(
    prefix: str = "maestro-drill-", base: str | None = None, *, keep: bool = False
) -> Iterator[tuple[Path, list[LocalServer]]]:
    """``Workspace`` as a context: on exit every server is stopped and the dir removed, even after an
    error, unless ``keep``."""
    space = Workspace.create(prefix, base, keep=keep)
    try:
        yield space.root, space.servers
    finally:
        space.close()
