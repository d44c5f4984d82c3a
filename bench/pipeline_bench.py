"""The main job end to end: `meltano run tap-discord target-postgres`, against the tap alone.

    python bench/pipeline_bench.py                          # 100k messages, both pacings
    python bench/pipeline_bench.py --sizes 100000 1000000   # and 1M
    python bench/pipeline_bench.py --pacing lifted          # one pacing
    python bench/pipeline_bench.py --target-setting use_copy=false   # try a loader setting

For each size (10 channels, `WorldSpec.bench_bulk`) and pacing, two runs through Meltano
with this project's `meltano.yml`, each against a fresh emulator process (the one
`bulk_bench.py` serves):

* the tap alone: `meltano invoke tap-discord`, its Singer output to /dev/null;
* the pipeline: `meltano run tap-discord target-postgres` into a fresh throwaway
  PostgreSQL, with no state (a backfill).

Pacings: `default` is the tap's default settings, which pace every request at Discord's
global limit (50 requests/s, so at most 5,000 messages/s); `lifted` raises
`max_requests_per_second`, so nothing but CPU paces either run. The emulator enforces
no per-route limit in either (ten channels under Discord's per-channel buckets would
measure the buckets, which `ratelimit_bench.py` does).

Prints per run: message records/s of wall time (both runs), their ratio (pipeline /
tap alone; the goal is at most 1.25 at default pacing), the loader's CPU seconds and
peak RSS and the tap's CPU seconds in the pipeline (sampled from /proc every 0.1 s while
they run: the last 0.1 s of CPU may be missing), and Meltano's own CPU (its usage,
which includes its plugins', less theirs): Meltano reads every line the tap writes and
hands it to the loader. Checks that the messages table holds every message exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `tests` and `scripts` importable
    sys.path.insert(0, str(ROOT))

from bench.bulk_bench import TOKEN, EmulatorProcess  # noqa: E402
from scripts.demo import LOAD_SCHEMA, Meltano  # noqa: E402
from tests.pgcluster import ThrowawayPostgres  # noqa: E402

LIFTED_REQUESTS_PER_SECOND = "100000"
LOADER_MARK = "/loaders/target-postgres/"
TAP_MARK = "/extractors/tap-discord/"
SAMPLE_SECONDS = 0.1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Usage:
    """A process's CPU seconds and peak RSS, as last sampled."""

    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0


class Sampler:
    """Samples the processes whose command line holds `mark`, from /proc until stopped."""

    def __init__(self, mark: str) -> None:
        self.mark = mark.encode()
        self.usage = Usage()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            for pid in _pids(self.mark):
                self._sample(pid)

    def _sample(self, pid: str) -> None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        cpu = (int(stat[11]) + int(stat[12])) / CLOCK_TICKS
        self.usage.cpu_seconds = max(self.usage.cpu_seconds, cpu)
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
                self.usage.peak_rss_mb = max(self.usage.peak_rss_mb, rss)


def _pids(mark: bytes) -> list[str]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if mark in cmdline:
            pids.append(entry)
    return pids


@dataclass
class Result:
    """One size and pacing: both runs' figures."""

    messages: int
    pacing: str
    tap_seconds: float
    pipeline_seconds: float
    loader_cpu_seconds: float
    loader_peak_rss_mb: float
    tap_cpu_seconds: float
    meltano_cpu_seconds: float
    rows: int
    distinct_ids: int

    @property
    def tap_rate(self) -> float:
        return self.messages / self.tap_seconds

    @property
    def pipeline_rate(self) -> float:
        return self.messages / self.pipeline_seconds

    @property
    def ratio(self) -> float:
        return self.pipeline_seconds / self.tap_seconds


def tap_settings(api_url: str, pacing: str) -> dict[str, str]:
    """The tap's settings for a run: the emulator, and the pacing asked for."""
    settings = {"TAP_DISCORD_BOT_TOKEN": TOKEN, "TAP_DISCORD_API_URL": api_url}
    if pacing == "lifted":
        settings["TAP_DISCORD_MAX_REQUESTS_PER_SECOND"] = LIFTED_REQUESTS_PER_SECOND
    return settings


def run_meltano(
    meltano: Meltano, args: list[str], log: Path, *, discard_stdout: bool = False
) -> tuple[float, Any]:
    """`meltano <args>`, its output to `log` (stdout to /dev/null if `discard_stdout`).

    Returns its wall seconds and its `os.wait4` usage (which includes its plugins').
    """
    with log.open("wb") as out, open(os.devnull, "wb") as devnull:
        started = time.monotonic()
        process = subprocess.Popen(
            meltano.argv(*args),
            cwd=ROOT,
            env=meltano.env,
            stdin=subprocess.DEVNULL,
            stdout=devnull if discard_stdout else out,
            stderr=out,
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"meltano {' '.join(args)} failed; see {log}")
    return seconds, usage


def run_tap_alone(messages: int, pacing: str, scratch: Path) -> float:
    """`meltano invoke tap-discord > /dev/null`; its wall seconds."""
    with EmulatorProcess(messages) as emulator:
        meltano = Meltano(workdir=scratch, settings=tap_settings(emulator.api_url, pacing))
        args = ["invoke", "tap-discord"]
        seconds, _ = run_meltano(meltano, args, scratch / "tap.err", discard_stdout=True)
    return seconds


def run_pipeline(
    messages: int, pacing: str, scratch: Path, target: dict[str, str]
) -> tuple[float, dict[str, Usage], int, int]:
    """`meltano run tap-discord target-postgres` into a fresh database."""
    with (
        EmulatorProcess(messages) as emulator,
        ThrowawayPostgres(database="discord") as pg,
    ):
        settings = tap_settings(emulator.api_url, pacing)
        settings.update(
            {
                "TARGET_POSTGRES_HOST": pg.host,
                "TARGET_POSTGRES_PORT": str(pg.port),
                "TARGET_POSTGRES_USER": pg.user,
                "TARGET_POSTGRES_PASSWORD": pg.password,
                "TARGET_POSTGRES_DATABASE": pg.database,
            }
        )
        settings.update({f"TARGET_POSTGRES_{k.upper()}": v for k, v in target.items()})
        meltano = Meltano(workdir=scratch, settings=settings)
        with Sampler(LOADER_MARK) as loader, Sampler(TAP_MARK) as tap:
            args = ["run", "tap-discord", "target-postgres"]
            seconds, usage = run_meltano(meltano, args, scratch / "run.log")
        rows, distinct = count_messages(pg.dsn)
    # Meltano waits for both plugins, so its usage includes theirs.
    total = usage.ru_utime + usage.ru_stime
    own = Usage(cpu_seconds=total - loader.usage.cpu_seconds - tap.usage.cpu_seconds)
    return seconds, {"loader": loader.usage, "tap": tap.usage, "meltano": own}, rows, distinct


def count_messages(dsn: str) -> tuple[int, int]:
    """Rows of the messages table and distinct ids among them."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        query = f'SELECT count(*), count(DISTINCT id) FROM "{LOAD_SCHEMA}".messages'
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def measure(messages: int, pacing: str, target: dict[str, str], keep: Path | None) -> Result:
    """Both runs for one size and pacing."""
    scratch = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    try:
        (scratch / "tap").mkdir()
        (scratch / "pipeline").mkdir()
        tap_seconds = run_tap_alone(messages, pacing, scratch / "tap")
        seconds, usage, rows, distinct = run_pipeline(
            messages, pacing, scratch / "pipeline", target
        )
    finally:
        if keep:
            shutil.copytree(scratch, keep / f"{messages}-{pacing}", dirs_exist_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return Result(
        messages=messages,
        pacing=pacing,
        tap_seconds=tap_seconds,
        pipeline_seconds=seconds,
        loader_cpu_seconds=usage["loader"].cpu_seconds,
        loader_peak_rss_mb=usage["loader"].peak_rss_mb,
        tap_cpu_seconds=usage["tap"].cpu_seconds,
        meltano_cpu_seconds=usage["meltano"].cpu_seconds,
        rows=rows,
        distinct_ids=distinct,
    )


def report(result: Result) -> None:
    """Print one result."""
    complete = result.rows == result.distinct_ids == result.messages
    print(
        f"{result.messages:>9,} messages, {result.pacing:>7} pacing: "
        f"tap alone {result.tap_seconds:6.1f} s ({result.tap_rate:7,.0f}/s), "
        f"pipeline {result.pipeline_seconds:6.1f} s ({result.pipeline_rate:7,.0f}/s), "
        f"ratio {result.ratio:.2f}; loader {result.loader_cpu_seconds:.1f} CPU s, "
        f"peak RSS {result.loader_peak_rss_mb:.0f} MB; tap {result.tap_cpu_seconds:.1f} CPU s, "
        f"Meltano itself {result.meltano_cpu_seconds:.1f} CPU s; "
        f"rows {result.rows:,} ({'complete, no duplicates' if complete else 'MISMATCH'})",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument(
        "--pacing", nargs="+", choices=("default", "lifted"), default=["default", "lifted"]
    )
    parser.add_argument(
        "--target-setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a target-postgres setting for this run (TARGET_POSTGRES_<KEY>)",
    )
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    parser.add_argument("--keep", type=Path, help="keep each run's Meltano logs here")
    args = parser.parse_args(argv)
    target = dict(item.split("=", 1) for item in args.target_setting)
    print(f"load average: {os.getloadavg()[0]:.2f}; loader settings: {target or 'meltano.yml'}")
    results = []
    for size in args.sizes:
        for pacing in args.pacing:
            result = measure(size, pacing, target, args.keep)
            report(result)
            results.append(result)
    if args.json:
        rows = [asdict(r) | {"ratio": r.ratio, "pipeline_rate": r.pipeline_rate} for r in results]
        args.json.write_text(json.dumps(rows, indent=2))
    ok = all(r.rows == r.distinct_ids == r.messages for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
