"""Local PostgreSQL for the drill (runbook 2): the installed binaries, throwaway servers, SQL via psql.

Every server lives in a work directory this module creates and removes; it listens on 127.0.0.1 on a free
port with its socket inside that directory, so nothing outside is touched. As root the server binaries
run as the ``postgres`` user (``runuser``), and the work directory is created outside root-only temp
dirs and handed to that user. Client tools connect over TCP with the trust auth of these throwaway
clusters; for a real database (``--dsn``) libpq's own environment and ``~/.pgpass`` apply.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from backupctl.errors import BadInput

SERVER_USER = "postgres"
START_TIMEOUT_SECONDS = 60


class PgError(Exception):
    """A PostgreSQL tool failed; the message carries its last stderr line."""


def bindir() -> Path:
    """The PostgreSQL binaries: $PG_BINDIR, else `pg_config --bindir`, else the PATH."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
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


def run(argv: Sequence[str], *, env: dict[str, str] | None = None, what: str = "") -> str:
    done = subprocess.run(
        list(argv), capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        args = list(argv)
        name = Path(args[args.index("--") + 1] if "--" in args else args[0]).name
        raise PgError(f"{what or name} failed: {last}")
    return done.stdout


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
        shutil.copytree(base, self.data)
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
            )
        except PgError as exc:
            lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
            fatal = [line for line in lines if "FATAL" in line or "ERROR" in line] or lines[-1:]
            raise PgError(f"{exc}; server log: {fatal[-1] if fatal else 'empty'}") from None
        return self

    def wait_promoted(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(PgError):
                if scalar(self.conn, "select pg_is_in_recovery()") == "f":
                    return
            time.sleep(0.1)
        raise PgError(f"server on port {self.port} did not finish recovery in {timeout:.0f} s")

    def stop(self) -> None:
        if not self.process_started:
            return
        try:
            run([*as_server_user(), tool("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        except PgError:
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
            server.stop()
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
