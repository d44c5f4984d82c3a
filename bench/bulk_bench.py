"""Unthrottled benchmark: message records per second end to end, and the tap's peak memory.

    python bench/bulk_bench.py                  # 100k and 1M messages (10 channels)
    python bench/bulk_bench.py --sizes 100000   # one size

For each size, two readers of the same pages, each against a fresh emulator process
(`WorldSpec.bench_bulk`, rate limits off, so neither benefits from the other's warm
page cache):

* the tap as Meltano runs it (`python -m tap_discord --config ...`, every stream,
  `max_requests_per_second` raised so its own limiter does not pace it), stdout to a
  file; message records per second of wall time, and its peak RSS (`ru_maxrss` of that
  child process, from `os.wait4`) and CPU seconds (all its threads; less sensitive to
  other jobs than the wall time);
* a plain client: one `requests.Session`, `response.json()` per page, the same
  `after`/`limit=100` pages channel by channel, doing nothing with the messages.

The ratio tap / plain says what the tap's work (Singer records, state, parallel
fetching) costs or gains against the simplest possible reader. The machine's load
average is printed beside the figures: other jobs on a 2-core box change them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `tests.emulator` importable
    sys.path.insert(0, str(ROOT))

from bench.taprun import run_tap_process  # noqa: E402
from tests.emulator import Emulator, WorldSpec  # noqa: E402
from tests.emulator.launch import ready_url, serve_until_signalled  # noqa: E402

TOKEN = "bench-bulk-bot-token"
CHANNELS = 10
SIZES = (100_000, 1_000_000)
READY_TIMEOUT = 120.0
RECORD_PREFIX = b'{"type":"RECORD","stream":"messages"'


def serve(messages: int) -> int:
    """Serve `bench_bulk` with `messages` in total, limits off, until SIGTERM."""
    spec = WorldSpec.bench_bulk(messages_per_channel=messages // CHANNELS)
    emulator = Emulator(spec, bot_token=TOKEN)
    emulator.settings.update(rate_limits="off")
    with emulator:
        serve_until_signalled(emulator)
    return 0


class EmulatorProcess:
    """`serve` in a subprocess, so the emulator and the reader never share a GIL."""

    def __init__(self, messages: int) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "serve", str(messages)]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.api_url = ready_url(self.process, READY_TIMEOUT)

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class TapFigures:
    """One tap run: wall time, message records, throughput, peak RSS."""

    messages: int
    wall_seconds: float
    records: int
    records_per_second: float
    peak_rss_mb: float
    cpu_seconds: float
    output_mb: float
    exit_code: int


def run_tap(api_url: str, tmp: Path, extra: dict[str, Any]) -> TapFigures:
    """The tap as Meltano runs it; stdout to a file counted after the clock stops."""
    config = {"bot_token": TOKEN, "api_url": api_url, "max_requests_per_second": 100_000}
    config.update(extra)
    tap = run_tap_process(config, tmp)
    if tap.returncode != 0:
        sys.stderr.write(tap.stderr_path.read_text(encoding="utf-8")[-3000:])
    out_path, wall, usage = tap.stdout_path, tap.wall_seconds, tap.usage
    records = count_records(out_path)
    return TapFigures(
        messages=0,
        wall_seconds=round(wall, 2),
        records=records,
        records_per_second=round(records / wall),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 2),
        output_mb=round(out_path.stat().st_size / 1e6, 1),
        exit_code=tap.returncode,
    )


def count_records(path: Path) -> int:
    """Message RECORD lines in the tap's output."""
    with path.open("rb") as handle:
        return sum(line.startswith(RECORD_PREFIX) for line in handle)


@dataclass
class PlainFigures:
    """The plain client: wall time and messages per second."""

    wall_seconds: float
    records: int
    records_per_second: float


def run_plain(api_url: str) -> PlainFigures:
    """Read every channel's pages with one session and `response.json()`."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bot {TOKEN}"
    started = time.monotonic()
    guild = session.get(f"{api_url}/users/@me/guilds").json()[0]["id"]
    channels = session.get(f"{api_url}/guilds/{guild}/channels").json()
    records = 0
    for channel in channels:
        if channel.get("type") != 0 or not channel.get("last_message_id"):
            continue
        after = 0
        while True:
            page = session.get(
                f"{api_url}/channels/{channel['id']}/messages",
                params={"after": after, "limit": 100},
            ).json()
            records += len(page)
            if len(page) < 100:
                break
            after = max(int(message["id"]) for message in page)
    wall = time.monotonic() - started
    return PlainFigures(round(wall, 2), records, round(records / wall))


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(messages: int, extra: dict[str, Any]) -> dict[str, Any]:
    """Tap and plain client at one size, each against a fresh emulator."""
    with tempfile.TemporaryDirectory(prefix="bulk-bench-") as name:
        load_before = load()
        with EmulatorProcess(messages) as emulator:
            tap = run_tap(emulator.api_url, Path(name), extra)
        tap.messages = messages
        with EmulatorProcess(messages) as emulator:
            plain = run_plain(emulator.api_url)
    return {
        "messages": messages,
        "tap": asdict(tap),
        "plain": asdict(plain),
        "ratio": round(tap.records_per_second / plain.records_per_second, 2),
        "complete": tap.records == messages == plain.records and tap.exit_code == 0,
        "load_before": load_before,
        "load_after": load(),
    }


def render(result: dict[str, Any]) -> str:
    """Human-readable lines for one size."""
    tap, plain = result["tap"], result["plain"]
    return "\n".join(
        [
            f"{result['messages']:,} messages in {CHANNELS} channels (load before "
            f"{result['load_before']}, after {result['load_after']})",
            f"  tap      {tap['records']:>9,} records in {tap['wall_seconds']:6.1f} s = "
            f"{tap['records_per_second']:>6,} rec/s, peak RSS {tap['peak_rss_mb']} MB, "
            f"CPU {tap['cpu_seconds']} s, output {tap['output_mb']} MB, exit {tap['exit_code']}",
            f"  plain    {plain['records']:>9,} records in {plain['wall_seconds']:6.1f} s = "
            f"{plain['records_per_second']:>6,} rec/s (requests + json, one thread)",
            f"  ratio    {result['ratio']:.2f} (tap / plain)"
            + ("" if result["complete"] else "  [!] record counts differ or the tap failed"),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, as `serve N`, the emulator process)."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "serve":
        return serve(int(args[1]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--max-workers", type=int, help="the tap's max_workers (its default)")
    parser.add_argument("--buffer-mb", type=int, help="the tap's prefetch_buffer_mb (default)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    options = parser.parse_args(args)
    extra: dict[str, Any] = {}
    if options.max_workers:
        extra["max_workers"] = options.max_workers
    if options.buffer_mb:
        extra["prefetch_buffer_mb"] = options.buffer_mb
    results = []
    for messages in options.sizes:
        result = measure(messages, extra)
        print(render(result), flush=True)
        results.append(result)
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["complete"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
