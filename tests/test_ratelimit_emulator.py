"""The rate limiter against the Discord emulator, over real HTTP and real (scaled) time.

Plain `requests.Session`s with `RateLimitedAdapter` mounted, as the tap uses them: one
session per worker thread, one limiter shared by all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tap_discord.errors import RateLimitBanError
from tap_discord.ratelimit import RateLimitedAdapter, RateLimiter

emulator = pytest.importorskip("tests.emulator")

TOKEN = "ratelimit-test-token"
SCALE = 0.1
"""Emulated windows are 10x shorter: messages allow 5 per 0.5 s, roles 50 per 0.1 s."""


@pytest.fixture
def emu() -> Iterator[emulator.Emulator]:
    spec = emulator.WorldSpec(
        guilds=8,
        text_channel_messages=[300],
        threads_per_kind=0,
        members=5,
        unreadable_channels=1,
        no_history_channels=0,
    )
    with emulator.Emulator(spec, bot_token=TOKEN) as emu:
        emu.settings.rate_limits = "real"
        emu.settings.time_scale = SCALE
        yield emu


def session_for(limiter: RateLimiter) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bot {TOKEN}"
    adapter = RateLimitedAdapter(limiter)
    session.mount("http://", adapter)
    return session


def text_channels(emu: emulator.Emulator) -> list[str]:
    """One readable text channel with messages per guild."""
    return [
        channel["id"]
        for channels in emu.world.channels.values()
        for channel in channels
        if channel["type"] == 0
        and channel["id"] not in emu.world.unreadable
        and emu.world.messages.get(channel["id"])
    ]


def page_messages(session: requests.Session, api: str, channel_id: str, pages: int) -> int:
    """Read `pages` pages of 10 messages oldest-first; return how many messages came."""
    after, seen = "0", 0
    for _ in range(pages):
        url = f"{api}/channels/{channel_id}/messages?limit=10&after={after}"
        response = session.get(url, timeout=10)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += len(page)
        after = page[0]["id"]  # pages are newest first, even with `after`
    return seen


def kinds(emu: emulator.Emulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in emu.requests:
        counts[record.kind] = counts.get(record.kind, 0) + 1
    return counts


def test_paging_one_channel_takes_the_theoretical_minimum(emu) -> None:
    """20 pages at 5 per 0.5 s: no 429 at all, about 3 window lengths in total."""
    limiter = RateLimiter(max_requests_per_second=50 / SCALE)
    session = session_for(limiter)
    channel = text_channels(emu)[0]
    started = time.monotonic()
    assert page_messages(session, emu.api_url, channel, 20) == 200
    elapsed = time.monotonic() - started
    assert kinds(emu) == {"ok": 20}
    minimum = 3 * 5.0 * SCALE  # pages 6, 11 and 16 each wait for a window to slide
    assert minimum <= elapsed < minimum + 0.8  # slack for a loaded machine
    stats = limiter.stats
    assert (stats.requests, stats.route_429) == (20, 0)
    # Sliding windows: after each slide a few pages wait milliseconds for the next slot;
    # request latency overlaps the waits, so they sum to less than the minimum.
    assert 0 < stats.wait_seconds <= elapsed


def test_parallel_channels_share_nothing_but_the_global_limit(emu) -> None:
    """8 workers on 8 channels: each paced by its own bucket, zero 429s."""
    limiter = RateLimiter(max_requests_per_second=50 / SCALE)
    channels = text_channels(emu)
    assert len(channels) == 8
    errors: list[BaseException] = []

    def worker(channel: str) -> None:
        try:
            page_messages(session_for(limiter), emu.api_url, channel, 12)
        except BaseException as exc:
            errors.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(c,)) for c in channels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    elapsed = time.monotonic() - started
    assert not errors
    assert kinds(emu) == {"ok": 96}
    # 12 pages per channel need two slides of the 0.5 s window, in parallel.
    assert 2 * 5.0 * SCALE <= elapsed < 2 * 5.0 * SCALE + 0.8
    assert limiter.stats.route_429 == 0


def test_global_rate_holds_across_threads(emu) -> None:
    """8 workers hammering roles of 8 guilds: the global cap, not the buckets, binds."""
    rate = 200.0
    limiter = RateLimiter(max_requests_per_second=rate)
    guilds = [g["id"] for g in emu.world.guilds]
    per_worker = 40

    def worker(guild: str) -> None:
        session = session_for(limiter)
        for _ in range(per_worker):
            assert session.get(f"{emu.api_url}/guilds/{guild}/roles", timeout=10).ok

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(g,)) for g in guilds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    elapsed = time.monotonic() - started
    total = per_worker * len(guilds)
    assert kinds(emu) == {"ok": total}
    assert elapsed >= (total - 1) / rate
    times = sorted(r.time for r in emu.requests)
    # The limiter spaces sends exactly; the emulator stamps them after processing, with
    # scheduling jitter (client and server threads share one GIL here, so arrivals
    # bunch up), so measure over 0.5 s spans with 10% room; the exact spacing is
    # proven on virtual time in test_ratelimit.py.
    for i, start in enumerate(times):
        in_window = sum(1 for t in times[i:] if t - start < 0.5)
        assert in_window <= rate * 0.5 * 1.1


def test_unreadable_channel_counts_as_invalid(emu) -> None:
    limiter = RateLimiter(max_requests_per_second=50 / SCALE, invalid_request_limit=3)
    session = session_for(limiter)
    hidden = next(iter(emu.world.unreadable))
    for _ in range(3):
        assert (
            session.get(f"{emu.api_url}/channels/{hidden}/messages", timeout=10).status_code == 403
        )
    with pytest.raises(RateLimitBanError, match="invalid_request_limit"):
        session.get(f"{emu.api_url}/channels/{hidden}/messages", timeout=10)
    assert len(emu.requests) == 3  # the fourth request was never sent


def test_headerless_429_gets_one_backoff_then_stops(emu) -> None:
    """A 429 without rate-limit headers looks like Cloudflare's ban: pause, probe, stop."""
    limiter = RateLimiter(max_requests_per_second=50 / SCALE, ban_backoff_seconds=0.3)
    session = session_for(limiter)
    emu.settings.fail_next = [429, 429, 429]
    url = f"{emu.api_url}/guilds/{emu.world.guilds[0]['id']}/roles"
    # The back-off starts when the first ban response is recorded, inside this call.
    started = time.monotonic()
    assert session.get(url, timeout=10).status_code == 429
    with pytest.raises(RateLimitBanError, match="banned this IP"):
        session.get(url, timeout=10)
    assert time.monotonic() - started >= 0.3
    with pytest.raises(RateLimitBanError):
        session.get(url, timeout=10)
    assert len(emu.requests) == 2  # never a third
    assert limiter.stats.bans == 2


def test_headerless_429_once_then_recovery(emu) -> None:
    limiter = RateLimiter(max_requests_per_second=50 / SCALE, ban_backoff_seconds=0.2)
    session = session_for(limiter)
    emu.settings.fail_next = [429]
    url = f"{emu.api_url}/guilds/{emu.world.guilds[0]['id']}/roles"
    assert session.get(url, timeout=10).status_code == 429
    assert session.get(url, timeout=10).status_code == 200
    assert session.get(url, timeout=10).status_code == 200
    assert [r.kind for r in emu.requests] == ["route_429", "ok", "ok"]
