"""`make demo`: the whole pipeline, twice, against an emulated Discord guild.

1. `meltano install` (plugins into .meltano/, reused between demos);
2. starts the Discord API emulator with its demo world (a subprocess);
3. starts a throwaway PostgreSQL (falls back to target-jsonl files if the server
   binaries are missing);
4. `meltano run tap-discord target-postgres`, with its own empty Meltano system
   database so every demo starts from no state;
5. adds messages in the emulator and runs again: the new messages load, and each
   channel's last day is read again (`message_lookback` in meltano.yml: edits and
   deletions); the full-table streams re-upsert the same rows;
6. prints rows per table after each run, and what to change to sync a real guild.

Everything it started (emulator, PostgreSQL, temporary files) is removed on exit,
including Ctrl-C. The helpers here are reused by tests/test_e2e_meltano.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python scripts/demo.py` puts scripts/ first, not the repo
    sys.path.insert(0, str(REPO))

from tests.pgcluster import PostgresUnavailableError, ThrowawayPostgres  # noqa: E402

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

#: The state ID `meltano run` derives in the default environment.
STATE_ID = "dev:tap-discord-to-target-postgres"
#: Schema target-postgres loads into ($MELTANO_EXTRACT__LOAD_SCHEMA = the tap's namespace).
LOAD_SCHEMA = "tap_discord"
#: Variables of ours a user may have exported; the demo must not pick up their values.
OWN_ENV_PREFIXES = ("TAP_DISCORD_", "TARGET_POSTGRES_", "TARGET_JSONL_", "MELTANO_")
#: New messages the demo adds between its two runs.
NEW_MESSAGES = 25


# Meltano ----------------------------------------------------------------------------


class MeltanoError(RuntimeError):
    """A Meltano command failed; carries the tail of its output."""


@dataclass
class Meltano:
    """Runs `meltano` commands in this project, isolated from the user's settings.

    The system database (which holds state) lives in `workdir`, so each instance
    starts with no state; plugins still install into the project's .meltano/. The
    user's .env and exported TAP_DISCORD_*/TARGET_* variables are ignored: only
    `settings` reach the plugins.
    """

    workdir: Path
    settings: Mapping[str, str]
    project: Path = REPO
    executable: Path = Path(sys.executable).parent / "meltano"

    @property
    def env(self) -> dict[str, str]:
        """Environment for a meltano subprocess."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_ENV_PREFIXES)}
        env.update(
            {
                "MELTANO_DATABASE_URI": f"sqlite:///{self.workdir / 'meltano.db'}",
                "MELTANO_ENVIRONMENT": "dev",
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "MELTANO_PROJECT_ROOT": str(self.project),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.settings)
        return env

    def argv(self, *args: str) -> list[str]:
        """The command line of `meltano <args>`, with an empty env file (not the user's .env)."""
        env_file = self.workdir / "empty.env"
        env_file.touch()
        return [str(self.executable), "--env-file", str(env_file), *args]

    def __call__(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        timeout: float = 600,
        log_name: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `meltano <args>`; raise MeltanoError (with its output's tail) on failure."""
        result = subprocess.run(
            self.argv(*args),
            cwd=self.project,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if log_name:
            (self.workdir / log_name).write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
            raise MeltanoError(
                f"`meltano {' '.join(args)}` exited {result.returncode}; last lines:\n{tail}"
            )
        return result

    def install(self) -> float:
        """`meltano install`; returns the seconds it took."""
        started = time.monotonic()
        self("install", log_name="install.log")
        return time.monotonic() - started

    def run(self, loader: str, *extra: str, log_name: str | None = None) -> float:
        """`meltano run tap-discord <loader>`; returns the seconds it took."""
        started = time.monotonic()
        self("run", "tap-discord", loader, *extra, log_name=log_name)
        return time.monotonic() - started

    def state(self, state_id: str = STATE_ID) -> dict[str, t.Any]:
        """`meltano state get` as a dict ({} when no state is stored)."""
        out = self("state", "get", state_id).stdout.strip()
        return dict(json.loads(out)) if out else {}


def message_bookmarks(state: Mapping[str, t.Any]) -> dict[str, str]:
    """Map channel or thread id -> id of the last message synced, from the tap state.

    The tap keeps one SDK partition per guild under `bookmarks.messages`, holding a
    `channel_bookmarks` map of every channel and thread it has read.
    """
    singer_state = state.get("singer_state", state)
    stream_state = singer_state.get("bookmarks", {}).get("messages", {})
    marks: dict[str, str] = {}
    for partition in stream_state.get("partitions", []):
        marks.update({str(k): str(v) for k, v in partition.get("channel_bookmarks", {}).items()})
    return marks


# Emulator ---------------------------------------------------------------------------


class EmulatorProcess:
    """`python -m tests.emulator` as a subprocess: the demo world over HTTP."""

    def __init__(self, bot_token: str, workdir: Path, world: str = "demo", *extra: str) -> None:
        """Describe the emulator; it starts on `with`."""
        self.bot_token = bot_token
        self.world = world
        self.extra = extra
        self.log_path = workdir / "emulator.log"
        self.api_url = ""
        self._proc: subprocess.Popen[str] | None = None

    @property
    def control_url(self) -> str:
        """Root of the emulator's control endpoints (`/_emulator/...`)."""
        parts = urlsplit(self.api_url)
        return f"{parts.scheme}://{parts.netloc}/_emulator"

    def __enter__(self) -> EmulatorProcess:
        """Start it and wait for its `EMULATOR_READY <url>` line."""
        log = self.log_path.open("w")
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.emulator",
                "--world",
                self.world,
                "--port",
                "0",
                "--bot-token",
                self.bot_token,
                *self.extra,
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # Ctrl-C goes to us; we stop it in order
        )
        log.close()
        try:
            self.api_url = self._wait_ready(timeout=60)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self, timeout: float) -> str:
        """Read stdout until the ready line; keep draining it afterwards."""
        assert self._proc is not None
        assert self._proc.stdout is not None
        found: list[str] = []
        ready = threading.Event()
        stdout = self._proc.stdout

        def pump() -> None:
            with self.log_path.open("a") as log:
                for line in stdout:
                    if not found and line.startswith("EMULATOR_READY "):
                        found.append(line.split(maxsplit=1)[1].strip())
                        ready.set()
                    else:
                        log.write(line)
            ready.set()

        threading.Thread(target=pump, daemon=True, name="emulator-stdout").start()
        ready.wait(timeout)
        if not found:
            log = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the emulator did not report ready; its log:\n{log}")
        return found[0]

    def add_messages(self, count: int) -> dict[str, t.Any]:
        """POST /_emulator/messages: new messages spread over readable channels and threads.

        Returns `{"count": n, "channels": n, "ids": [...], ...}`.
        """
        return self._request("POST", "/messages", {"count": count})

    def stats(self) -> dict[str, t.Any]:
        """GET /_emulator/stats: `{"requests": n, "by_kind": {"ok": n, "route_429": n}}`."""
        return self._request("GET", "/stats")

    def _request(
        self, method: str, path: str, body: dict[str, t.Any] | None = None
    ) -> dict[str, t.Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - loopback URL we were given
            self.control_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return dict(json.loads(response.read() or b"{}"))

    def __exit__(self, *exc: object) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# PostgreSQL -------------------------------------------------------------------------


def table_counts(dsn: str, schema: str = LOAD_SCHEMA) -> dict[str, tuple[int, t.Any]]:
    """Map table -> (row count, newest _sdc_batched_at) for every table in `schema`."""
    import psycopg  # dev dependency, needed only with PostgreSQL
    from psycopg import sql

    counts: dict[str, tuple[int, t.Any]] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = %s ORDER BY table_name",
                (schema,),
            )
        ]
        for table in tables:
            query = sql.SQL("SELECT count(*), max(_sdc_batched_at) FROM {}").format(
                sql.Identifier(schema, table)
            )
            row = conn.execute(query).fetchone()
            assert row is not None
            counts[table] = (int(row[0]), row[1])
    return counts


def rows_batched_after(dsn: str, table: str, after: t.Any, schema: str = LOAD_SCHEMA) -> int:
    """Rows of `table` written (inserted or upserted) after the `_sdc_batched_at` mark."""
    import psycopg
    from psycopg import sql

    query = sql.SQL("SELECT count(*) FROM {} WHERE _sdc_batched_at > %s").format(
        sql.Identifier(schema, table)
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query, (after,)).fetchone()
    assert row is not None
    return int(row[0])


# JSONL fallback ---------------------------------------------------------------------


def jsonl_counts(files: Sequence[Path]) -> dict[str, int]:
    """Map stream -> records in the given target-jsonl files (`<stream>-<timestamp>.jsonl`)."""
    counts: dict[str, int] = {}
    for path in files:
        stream = path.name.rsplit("-", 1)[0]
        with path.open(encoding="utf-8") as handle:
            counts[stream] = counts.get(stream, 0) + sum(1 for _ in handle)
    return counts


# The demo ---------------------------------------------------------------------------


def say(text: str = "") -> None:
    """Print at once (the demo's output interleaves with long waits)."""
    print(text, flush=True)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so cleanup runs either way."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def print_table(header: Sequence[str], rows: Sequence[Sequence[t.Any]]) -> None:
    """A plain aligned table."""
    widths = [max(len(str(v)) for v in col) for col in zip(header, *rows, strict=False)]
    for i, line in enumerate([header, *rows]):
        say(
            "  "
            + "  ".join(
                str(v).ljust(w) if j == 0 else str(v).rjust(w)
                for j, (v, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if i == 0:
            say("  " + "  ".join("-" * w for w in widths))


def demo_postgres(meltano: Meltano, emulator: EmulatorProcess, pg: ThrowawayPostgres) -> None:
    """Two runs into PostgreSQL, with new messages in between, and the row counts."""
    meltano.settings = {
        **meltano.settings,
        "TARGET_POSTGRES_HOST": pg.host,
        "TARGET_POSTGRES_PORT": str(pg.port),
        "TARGET_POSTGRES_USER": pg.user,
        "TARGET_POSTGRES_PASSWORD": pg.password,
        "TARGET_POSTGRES_DATABASE": pg.database,
    }
    say(f"[4/6] run 1: meltano run tap-discord target-postgres ({pg.dsn})")
    seconds = meltano.run("target-postgres", log_name="run1.log")
    after_1 = table_counts(pg.dsn)
    say(f"      done in {seconds:.1f}s: {sum(n for n, _ in after_1.values())} rows")

    added = emulator.add_messages(NEW_MESSAGES)
    say(f"[5/6] emulator: posted {added['count']} new messages in {added['channels']} channels")

    say("[6/6] run 2: meltano run tap-discord target-postgres (resumes from the state)")
    seconds = meltano.run("target-postgres", log_name="run2.log")
    after_2 = table_counts(pg.dsn)
    say(f"      done in {seconds:.1f}s")

    rows = []
    for table in sorted(after_2):
        before, mark = after_1.get(table, (0, None))
        loaded = rows_batched_after(pg.dsn, table, mark) if mark else after_2[table][0]
        rows.append((table, before, after_2[table][0], loaded))
    say()
    say(f"Rows per table in schema {LOAD_SCHEMA} of {pg.dsn}:")
    print_table(("table", "after run 1", "after run 2", "loaded by run 2"), rows)
    say(
        "  (messages is incremental: run 2 loads the new messages and re-reads each "
        "channel's last\n   day for edits and deletions (message_lookback); the other "
        "streams are full-table and\n   re-upsert the same rows by primary key, so "
        "their counts stay put)"
    )
    marks = message_bookmarks(meltano.state())
    say()
    say(f"State {STATE_ID}: message bookmarks for {len(marks)} channels/threads")
    say("  (see it with: meltano state get " + STATE_ID + ")")


def demo_jsonl(meltano: Meltano, emulator: EmulatorProcess, output: Path) -> None:
    """The same two runs into JSON Lines files, for machines without PostgreSQL."""
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    meltano.settings = {**meltano.settings, "TARGET_JSONL_DESTINATION_PATH": str(output)}
    state_id = "dev:tap-discord-to-target-jsonl"

    say("[4/6] run 1: meltano run tap-discord target-jsonl")
    seconds = meltano.run("target-jsonl", log_name="run1.log")
    files_1 = sorted(output.glob("*.jsonl"))
    run_1 = jsonl_counts(files_1)
    say(f"      done in {seconds:.1f}s: {sum(run_1.values())} records")

    added = emulator.add_messages(NEW_MESSAGES)
    say(f"[5/6] emulator: posted {added['count']} new messages in {added['channels']} channels")
    time.sleep(1.1)  # target-jsonl names files by the second; keep the runs apart

    say("[6/6] run 2: meltano run tap-discord target-jsonl (resumes from the state)")
    seconds = meltano.run("target-jsonl", log_name="run2.log")
    run_2 = jsonl_counts([p for p in sorted(output.glob("*.jsonl")) if p not in files_1])
    say(f"      done in {seconds:.1f}s")
    say()
    say(f"Records per stream written to {output}:")
    rows = [(s, run_1.get(s, 0), run_2.get(s, 0)) for s in sorted(set(run_1) | set(run_2))]
    print_table(("stream", "run 1", "run 2"), rows)
    say("  (files have no primary keys: run 2 writes the full-table streams again, the")
    say("   new messages, and each channel's last day again: message_lookback)")
    marks = message_bookmarks(meltano.state(state_id))
    say(f"State {state_id}: message bookmarks for {len(marks)} channels/threads")


def describe_traffic(stats: Mapping[str, t.Any]) -> str:
    """One line from the emulator's request counters."""
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(stats.get("by_kind", {}).items()))
    return f"{stats.get('requests', 0)} requests ({kinds})"


REAL_DISCORD = """
To sync your real Discord server instead of the emulator:
  1. Discord Developer Portal: create an application and a bot; under Bot, enable the
     Server Members and Message Content intents; invite the bot to your server with
     View Channels and Read Message History.
  2. Put the secrets in .env (gitignored) or export them:
       TAP_DISCORD_BOT_TOKEN=<bot token>
       TAP_DISCORD_GUILD_IDS='["<your guild id>"]'    # optional: default all guilds
       TAP_DISCORD_START_DATE=P30D                     # optional: default all history
     and do not set TAP_DISCORD_API_URL (the default is https://discord.com/api/v10).
  3. Point target-postgres at your database (the dev environment defaults to
     localhost:5432, user postgres, database discord):
       TARGET_POSTGRES_HOST=... TARGET_POSTGRES_PORT=... TARGET_POSTGRES_USER=...
       TARGET_POSTGRES_PASSWORD=... TARGET_POSTGRES_DATABASE=...
  4. .venv/bin/meltano run tap-discord target-postgres
     (no database? .venv/bin/meltano run tap-discord target-jsonl  -> files in output/)
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options (`make demo` passes none)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--loader",
        choices=("auto", "postgres", "jsonl"),
        default="auto",
        help="auto: PostgreSQL when its server binaries are installed, else JSON Lines files",
    )
    parser.add_argument(
        "--output", type=Path, default=REPO / "output" / "demo", help="where jsonl files go"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; 0 on success, 1 on a failed step, 130 on Ctrl-C."""
    args = parse_args(argv)
    if not (Path(sys.executable).parent / "meltano").exists():
        say("meltano is not installed in this Python environment: run `make demo`.")
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="tap-discord-demo-"))
    token = "demo-" + secrets.token_urlsafe(24)
    meltano = Meltano(workdir=workdir, settings={})
    try:
        with terminate_as_interrupt():
            say("[1/6] meltano install (plugins go to .meltano/)")
            seconds = meltano.install()
            say(f"      done in {seconds:.1f}s")

            with EmulatorProcess(token, workdir) as emulator:
                say(f"[2/6] emulator: demo world at {emulator.api_url}")
                meltano.settings = {
                    "TAP_DISCORD_BOT_TOKEN": token,
                    "TAP_DISCORD_API_URL": emulator.api_url,
                }
                pg = None
                if args.loader != "jsonl":
                    try:
                        pg = ThrowawayPostgres(database="discord").start()
                    except PostgresUnavailableError as exc:
                        if args.loader == "postgres":
                            raise
                        say(f"[3/6] PostgreSQL unavailable: {exc}")
                        say("      Falling back to the file loader target-jsonl.")
                if pg is None:
                    if args.loader == "jsonl":
                        say("[3/6] loader: target-jsonl (JSON Lines files, no database)")
                    demo_jsonl(meltano, emulator, args.output.resolve())
                else:
                    try:
                        say(f"[3/6] PostgreSQL: throwaway server at {pg.dsn}")
                        demo_postgres(meltano, emulator, pg)
                    finally:
                        pg.stop()
                with contextlib.suppress(OSError, ValueError):
                    say(f"Emulator served {describe_traffic(emulator.stats())}")
        say(REAL_DISCORD)
        return 0
    except KeyboardInterrupt:
        say("\nInterrupted; cleaning up.")
        return 130
    except (MeltanoError, RuntimeError, OSError) as exc:
        say(f"\nDemo failed: {exc}")
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
