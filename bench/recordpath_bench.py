"""Main-thread cost of a message record, HTTP excluded: what bounds an unthrottled run.

    python bench/recordpath_bench.py                 # 100k messages (10 channels)
    python bench/recordpath_bench.py --messages 300000 --profile

With prefetching, worker threads do the HTTP and the main thread does everything else
for each record (parse the page, check the record, the SDK's per-record step, encode
and write the Singer line, the bookmark). That thread's CPU per record is the ceiling
of the tap's speed: 1e6 / (us per record) records per second, were fetching free.

The tap runs in this process against an emulator in another (`bulk_bench.py`'s), with
`max_workers` 1. A first sync records every message page in memory; a second sync,
with a fresh tap, is timed (`time.process_time`, this thread only, since there are no
workers) reading the same pages from memory, with stdout sent to /dev/null. The
other streams' few requests are included; at 100k messages they are under 2 % of it.
`--profile` adds the 25 most expensive functions (cProfile roughly doubles the time).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import sys
import time
import typing as t
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `bench` and `tap_discord` importable
    sys.path.insert(0, str(ROOT))

from bench.bulk_bench import TOKEN, EmulatorProcess  # noqa: E402
from tap_discord.client import DiscordStream  # noqa: E402
from tap_discord.gctuning import collector_tuned_for_records  # noqa: E402
from tap_discord.tap import TapDiscord  # noqa: E402

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

    from tap_discord.prefetch import Page


def replaying_pages(saved: dict[str, list[Page]]) -> t.Callable[..., Iterator[Page]]:
    """`fetch_pages` that fetches a channel's message pages once, then replays them."""
    fetch = DiscordStream.fetch_pages

    def fetch_pages(
        self: DiscordStream,
        session: requests.Session,
        context: dict[str, t.Any],
        priority: int | None = None,
    ) -> Iterator[Page]:
        if self.name != "messages":
            yield from fetch(self, session, context, priority)
            return
        key = str(context["channel_id"])
        if key not in saved:
            saved[key] = list(fetch(self, session, context, priority))
        yield from saved[key]

    return fetch_pages


@contextlib.contextmanager
def stdout_to_devnull() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null (the tap writes the process's stdout)."""
    sys.stdout.flush()
    kept = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(kept, 1)
        os.close(devnull)
        os.close(kept)


def measure(messages: int, profile: bool) -> None:
    """Sync once to record the pages, then time a second sync replaying them."""
    saved: dict[str, list[Page]] = {}
    with EmulatorProcess(messages) as emulator:
        config = {
            "bot_token": TOKEN,
            "api_url": emulator.api_url,
            "max_requests_per_second": 100_000,
            "max_workers": 1,
        }
        DiscordStream.fetch_pages = replaying_pages(saved)  # type: ignore[method-assign]
        # As the command line runs it: the collector tuned for the run's records.
        with stdout_to_devnull(), collector_tuned_for_records():
            TapDiscord(config=config).sync_all()
            tap = TapDiscord(config=config)
            profiler = cProfile.Profile() if profile else None
            started = time.process_time()
            if profiler:
                profiler.enable()
            tap.sync_all()
            if profiler:
                profiler.disable()
            cpu = time.process_time() - started
    per_record = cpu / messages * 1e6
    print(
        f"{messages:,} messages: main-thread CPU {cpu:.2f} s = {per_record:.1f} us per record; "
        f"ceiling {1e6 / per_record:,.0f} records/s (load {os.getloadavg()[0]:.2f})"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true", help="also print a cProfile top 25")
    options = parser.parse_args(argv)
    measure(options.messages, options.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
