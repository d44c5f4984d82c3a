"""A throwaway PostgreSQL server for the demo and the end-to-end tests.

`ThrowawayPostgres` runs `initdb` into a fresh temporary directory, starts the server
on a free port of 127.0.0.1 with trust authentication, creates one database, and on
exit stops the server and deletes the directory. Nothing is left behind and no
existing cluster is touched.

PostgreSQL refuses to run as root, so when this process is root the server
binaries run as the ``postgres`` system user (through ``runuser``), and the
temporary directory is handed to that user.

Usable from the command line too, to poke at a server by hand::

    python -m tests.pgcluster   # prints the DSN, serves until Ctrl-C
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from types import TracebackType

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found. "
    "Install them with `apt-get install postgresql-15` (Debian/Ubuntu), or set "
    "PG_BIN_DIR to the directory that holds them."
)


class PostgresUnavailableError(RuntimeError):
    """The server binaries are missing or the server would not start."""


def find_bin_dir() -> Path:
    """Where initdb/pg_ctl live: $PG_BIN_DIR, Debian's layout, else the PATH.

    Debian keeps the server binaries out of the PATH (in
    /usr/lib/postgresql/<major>/bin), so look there before giving up; the newest
    major version wins.
    """
    candidates: list[Path] = []
    if os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(os.environ["PG_BIN_DIR"]))
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(Path(p) for p in debian)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if all((directory / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise PostgresUnavailableError(INSTALL_HINT)


def postgres_available() -> bool:
    """Whether a throwaway server can be started here (binaries found)."""
    try:
        find_bin_dir()
    except PostgresUnavailableError:
        return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayPostgres:
    """A private PostgreSQL server for the lifetime of a `with` block.

    Attributes after entering: `host`, `port`, `user`, `password` (ignored: trust
    authentication), `database`, `dsn` (libpq URI) and `sqlalchemy_url`.
    """

    #: Durability is pointless for a server deleted minutes later; these make
    #: loading several times faster.
    SERVER_OPTIONS: t.ClassVar[tuple[str, ...]] = (
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
    )

    def __init__(
        self,
        database: str = "discord",
        user: str = "postgres",
        *,
        bin_dir: Path | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        """Describe the server; nothing starts before `start()` or `with`."""
        self.database = database
        self.user = user
        self.host = "127.0.0.1"
        self.port = 0
        self.start_timeout = start_timeout
        self._bin_dir = bin_dir
        self._root: Path | None = None
        self._running = False

    # Public API ----------------------------------------------------------------------

    @property
    def dsn(self) -> str:
        """libpq URI, for psql and psycopg."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def password(self) -> str:
        """Any password works (trust authentication); target-postgres insists on one."""
        return "throwaway"

    @property
    def sqlalchemy_url(self) -> str:
        """SQLAlchemy URL with the psycopg 3 driver (what target-postgres uses)."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (inside the temporary root)."""
        return self._require_root() / "data"

    @property
    def log_file(self) -> Path:
        """The server log, for error messages."""
        return self._require_root() / "server.log"

    def start(self) -> ThrowawayPostgres:
        """initdb, start on a free port, create the database. Cleans up on failure."""
        bin_dir = self._bin_dir or find_bin_dir()
        self._root = Path(tempfile.mkdtemp(prefix="tap-discord-pg-"))
        try:
            self._hand_over(self._root)
            (self._root / "sock").mkdir()
            self._hand_over(self._root / "sock")
            self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.user,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            )
            self._start_server(bin_dir)
            self._run(
                [
                    str(bin_dir / "createdb"),
                    "-h",
                    self.host,
                    "-p",
                    str(self.port),
                    "-U",
                    self.user,
                    self.database,
                ]
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown, then kill) and delete every file. Idempotent."""
        root, self._root = self._root, None
        if root is None:
            return
        data = root / "data"
        if self._running and (data / "postmaster.pid").exists():
            bin_dir = self._bin_dir or find_bin_dir()
            try:
                self._run(
                    [str(bin_dir / "pg_ctl"), "stop", "-D", str(data), "-m", "fast", "-w"],
                    timeout=30,
                )
            except (PostgresUnavailableError, subprocess.TimeoutExpired):
                _kill_postmaster(data)
        self._running = False
        shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        """Start the server."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server and delete its files, whatever happened in the block."""
        self.stop()

    # Internals -----------------------------------------------------------------------

    def _require_root(self) -> Path:
        if self._root is None:
            raise RuntimeError("the server is not started")
        return self._root

    def _start_server(self, bin_dir: Path) -> None:
        """pg_ctl start on a free port; retry with another port if one was taken meanwhile."""
        last_error: Exception | None = None
        for _ in range(3):
            self.port = free_port()
            options = " ".join(
                [
                    f"-p {self.port}",
                    f"-c listen_addresses={self.host}",
                    f"-c unix_socket_directories={self._require_root() / 'sock'}",
                    *(f"-c {option}" for option in self.SERVER_OPTIONS),
                ]
            )
            try:
                self._run(
                    [
                        str(bin_dir / "pg_ctl"),
                        "start",
                        "-D",
                        str(self.data_dir),
                        "-l",
                        str(self.log_file),
                        "-o",
                        options,
                        "-w",
                        "-t",
                        str(int(self.start_timeout)),
                    ],
                    timeout=self.start_timeout + 10,
                )
            except PostgresUnavailableError as exc:
                last_error = exc
                _kill_postmaster(self.data_dir)
                continue
            self._running = True
            return
        raise PostgresUnavailableError(f"PostgreSQL did not start: {last_error}")

    def _hand_over(self, path: Path) -> None:
        """As root, give `path` to the postgres user, who runs the server."""
        if os.geteuid() != 0:
            return
        try:
            account = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise PostgresUnavailableError(
                "running as root, but there is no `postgres` system user to run the "
                "server as (installing postgresql-15 creates it)"
            ) from exc
        os.chown(path, account.pw_uid, account.pw_gid)

    def _run(self, argv: list[str], timeout: float = 120) -> None:
        """Run a server binary (as postgres when root); raise with its output on failure."""
        program = Path(argv[0]).name
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(
            argv,
            cwd=self._root or tempfile.gettempdir(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            start_new_session=True,  # Ctrl-C in a terminal must not reach the server
        )
        if result.returncode != 0:
            log = ""
            with contextlib.suppress(OSError, RuntimeError):
                log = self.log_file.read_text(errors="replace")[-2000:]
            output = result.stderr.strip() or result.stdout.strip()
            raise PostgresUnavailableError(
                f"{program} failed (exit {result.returncode}): {output}"
                + (f"\nserver log:\n{log}" if log else "")
            )


def _kill_postmaster(data_dir: Path) -> None:
    """Last resort when pg_ctl cannot stop the server: SIGQUIT the postmaster."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, signal.SIGQUIT)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)


if __name__ == "__main__":
    with ThrowawayPostgres() as server:
        print(server.dsn, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
