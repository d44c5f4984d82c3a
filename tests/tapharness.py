"""Run the real `tap-discord` command and read its Singer output.

Tests drive the tap the way Meltano does: a subprocess with a config file, optional
state and catalog files, Singer messages on stdout and logs on stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
#: Settings whose values must never appear in anything the tap prints.
SECRET_SETTINGS = ("bot_token", "client_secret", "refresh_token", "access_token")
#: Shorter values are test placeholders ("r", "x") that would match innocent text.
MIN_SECRET_LENGTH = 8
#: Every tap run is at DEBUG, the level most likely to leak a header or a body.
LOG_LEVEL_ENV = {"TAP_DISCORD_LOGLEVEL": "DEBUG"}
#: How long a tap may take to stop after `interrupt_tap` signals it.
STOP_SECONDS = 60


def scaled_global_share(time_scale: float) -> float:
    """A tap's `max_requests_per_second` against an emulator whose clock runs
    1/`time_scale` times faster: half its global limit.

    The tap guards against arrival jitter with a one-second window, as Discord counts;
    a faster clock shrinks the emulator's window (50 ms at 20x) but not the tap's, and at
    the full rate a loaded test machine then sometimes bunches 51 requests into it. Tests
    of faults, bans and state use this share; the global pace itself is measured at
    Discord's real speed by `bench/ratelimit_bench.py`.
    """
    return 25 / time_scale


def as_loaded(value: Any) -> Any:
    """A Discord object as the tap emits it: every NUL character, at any depth and in
    keys too, becomes U+FFFD (README, "NUL characters")."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {as_loaded(k): as_loaded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_loaded(v) for v in value]
    return value


def as_emitted(message: dict[str, Any]) -> dict[str, Any]:
    """A message as the tap emits it: the fields its schema lists under `extras` moved
    there (absent when the message has none of them)."""
    from tap_discord import schemas

    names = schemas.MESSAGES_SCHEMA["properties"]["extras"]["properties"]
    record = {k: v for k, v in message.items() if k not in names}
    extras = {k: v for k, v in message.items() if k in names}
    return {**record, "extras": extras} if extras else record


def nul_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths (keys and list indexes) to every string holding a NUL inside `value`."""
    if isinstance(value, str) and "\x00" in value:
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from nul_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nul_paths(item, (*path, index))


@dataclass
class SecretScan:
    """What the harness has scanned this session (the conftest prints it at the end)."""

    runs: int = 0
    bytes: int = 0
    secrets: set[str] = field(default_factory=set)


SCANNED = SecretScan()
#: Figures tests measured (kill/resume duplicates, ...), printed at the end of the session.
REPORT: list[str] = []


class SecretLeakError(AssertionError):
    """A tap run printed a token or secret."""


@dataclass
class TapRun:
    """What one run of the tap printed, parsed."""

    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def records(self, stream: str) -> list[dict[str, Any]]:
        """RECORD payloads of one stream, in emission order."""
        return [
            m["record"]
            for m in self.messages
            if m.get("type") == "RECORD" and m.get("stream") == stream
        ]

    def streams(self) -> set[str]:
        """Names of the streams that emitted at least one record."""
        return {m["stream"] for m in self.messages if m.get("type") == "RECORD"}

    @property
    def states(self) -> list[dict[str, Any]]:
        """Every STATE value, in order."""
        return [m["value"] for m in self.messages if m.get("type") == "STATE"]

    @property
    def final_state(self) -> dict[str, Any]:
        """The last STATE value (what Meltano would store)."""
        states = self.states
        return states[-1] if states else {}

    def schema(self, stream: str) -> dict[str, Any]:
        """The SCHEMA message of one stream."""
        for m in self.messages:
            if m.get("type") == "SCHEMA" and m.get("stream") == stream:
                return m
        raise KeyError(stream)

    @property
    def output(self) -> str:
        """stdout and stderr together, for secret scans."""
        return self.stdout + "\n" + self.stderr


def run_tap(
    config: dict[str, Any],
    *,
    state: dict[str, Any] | str | None = None,
    catalog: dict[str, Any] | str | None = None,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> TapRun:
    """Run `python -m tap_discord` with files for config, state and catalog."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            _command(tmp, config, state, catalog) + list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env=_tap_env(env),
            check=False,
        )
    assert_no_secrets(proc.stdout + proc.stderr, config, env)
    return TapRun(proc.returncode, proc.stdout, proc.stderr, _parse(proc.stdout))


@contextlib.contextmanager
def must_stop(proc: subprocess.Popen, signal_name: str) -> Iterator[None]:
    """Around reading a signalled tap's last output: a tap still running `STOP_SECONDS`
    later is killed and fails the test, instead of hanging the suite."""
    hung = threading.Event()
    killer = threading.Timer(STOP_SECONDS, lambda: (hung.set(), proc.kill()))
    killer.start()
    try:
        yield
    finally:
        killer.cancel()
    assert not hung.is_set(), f"the tap did not stop within {STOP_SECONDS} s of {signal_name}"


def interrupt_tap(
    config: dict[str, Any],
    stop: Callable[[str], bool],
    sig: signal.Signals = signal.SIGTERM,
    *,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
) -> TapRun:
    """Run the tap and send it `sig` at the first stdout line `stop` is true of: what a
    target saw. After SIGKILL that is the whole lines read before it; after any other
    signal, everything the tap still prints as it stops."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        open(Path(tmp) / "stderr", "w+", encoding="utf-8") as err,
    ):
        proc = subprocess.Popen(
            _command(tmp, config, state, catalog),
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=ROOT,
            env=_tap_env(),
        )
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            if stop(line):
                proc.send_signal(sig)
                break
        with must_stop(proc, sig.name):
            if sig != signal.SIGKILL:
                lines.extend(proc.stdout)
            code = proc.wait(STOP_SECONDS)
        proc.stdout.close()
        err.seek(0)
        stderr = err.read()
    assert_no_secrets("".join(lines) + stderr, config)
    stdout = "".join(line for line in lines if line.endswith("\n"))
    return TapRun(code, stdout, stderr, _parse(stdout))


def after_lines(count: int) -> Callable[[str], bool]:
    """A `stop` for `interrupt_tap`: true at the `count`-th line."""
    seen = 0

    def stop(line: str) -> bool:
        nonlocal seen
        seen += 1
        return seen >= count

    return stop


def after_records(count: int, stream: str | None = None) -> Callable[[str], bool]:
    """A `stop` for `interrupt_tap`: true at the `count`-th RECORD (of `stream`, if given)."""
    prefix = '{"type":"RECORD"' + (f',"stream":"{stream}"' if stream else "")
    seen = 0

    def stop(line: str) -> bool:
        nonlocal seen
        seen += line.startswith(prefix)
        return seen >= count

    return stop


def known_secrets(
    config: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> set[str]:
    """The run's secret settings plus every credential a live emulator knows or issued."""
    from tests.emulator.core import LIVE

    found = {str(v) for k, v in (config or {}).items() if k in SECRET_SETTINGS and v}
    found |= {v for k, v in (env or {}).items() if k.lower().endswith(SECRET_SETTINGS)}
    for emu in list(LIVE):
        found |= emu.secrets()
    return {s for s in found if len(s.strip()) >= MIN_SECRET_LENGTH}


def assert_no_secrets(
    output: str, config: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> None:
    """Fail (naming the setting kind, never the value) if the output holds a secret."""
    secrets = known_secrets(config, env)
    SCANNED.runs += 1
    SCANNED.bytes += len(output)
    SCANNED.secrets |= secrets
    leaked = [s for s in secrets if s in output]
    if leaked:
        line = next(line for line in output.splitlines() if leaked[0] in line)
        raise SecretLeakError(
            f"{len(leaked)} secret(s) in the tap's output, e.g. on the line: "
            f"{line.replace(leaked[0], '<SECRET>')[:300]}"
        )


def channel_bookmarks(state: dict[str, Any]) -> dict[str, str]:
    """The messages stream's `{channel or thread id: bookmark}` of a STATE, all guilds."""
    partitions = state["bookmarks"]["messages"]["partitions"]
    return {cid: bm for p in partitions for cid, bm in p["channel_bookmarks"].items()}


def discover(config: dict[str, Any]) -> dict[str, Any]:
    """The catalog `--discover` prints."""
    run = run_tap(config, args=("--discover",))
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def select(catalog: dict[str, Any], streams: set[str]) -> dict[str, Any]:
    """A copy of the catalog with exactly these streams selected."""
    catalog = json.loads(json.dumps(catalog))
    for entry in catalog["streams"]:
        chosen = entry["tap_stream_id"] in streams
        for item in entry["metadata"]:
            if not item["breadcrumb"]:
                item["metadata"]["selected"] = chosen
    return catalog


def _dump(tmp: str, name: str, value: dict[str, Any] | str) -> str:
    """Write a JSON file; a str is written as is (to test damaged files)."""
    path = os.path.join(tmp, f"{name}.json")
    with open(path, "w", encoding="utf-8") as handle:
        if isinstance(value, str):
            handle.write(value)
        else:
            json.dump(value, handle)
    return path


def _command(
    tmp: str,
    config: dict[str, Any],
    state: dict[str, Any] | str | None,
    catalog: dict[str, Any] | str | None,
) -> list[str]:
    """`python -m tap_discord` with its config, state and catalog written to files in `tmp`."""
    cmd = [sys.executable, "-m", "tap_discord", "--config", _dump(tmp, "config", config)]
    if state is not None:
        cmd += ["--state", _dump(tmp, "state", state)]
    if catalog is not None:
        cmd += ["--catalog", _dump(tmp, "catalog", catalog)]
    return cmd


def _tap_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A tap run's environment: clean, at DEBUG, plus `extra`."""
    return {**_clean_env(), **LOG_LEVEL_ENV, **(extra or {})}


def _clean_env() -> dict[str, str]:
    """The environment without TAP_DISCORD_* settings that would leak into a run."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TAP_DISCORD_")}


def _parse(stdout: str) -> list[dict[str, Any]]:
    messages = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith('{"type"'):
            messages.append(json.loads(line))
    return messages
