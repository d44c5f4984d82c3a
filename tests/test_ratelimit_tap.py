"""Rate-limit protections through the real tap: bans, global 429s, the invalid-request guard.

Each scenario is one run of the `tap-discord` command against its own emulator with
Discord's limits (20x faster). The runs mostly wait, so the module starts them at once.
The tap fetches message pages of several channels at once (`max_workers`), so a pause
must hold every worker.

The ban scenarios shorten the tap's one back-off after a suspected Cloudflare ban from
60 s to 1 s: a `sitecustomize` module on the subprocess's PYTHONPATH changes the default
of `RateLimiter(ban_backoff_seconds=...)` before the unchanged CLI starts.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tap_discord.settings import DEFAULT_MAX_WORKERS
from tests.emulator import Emulator, WorldSpec
from tests.emulator.core import RequestRecord
from tests.tapharness import ROOT, TapRun, run_tap, scaled_global_share

TOKEN = "ratelimit-tap-test-token-secret"
SCALE = 0.05
"""Rate-limit windows 20x shorter than Discord's."""
BAN_BACKOFF = 1.0
"""The tap's pause after a ban response, shortened from 60 s for these tests."""
GLOBAL_PAUSE = 3.0
"""`retry_after` of the injected global 429s, in seconds (long enough to log at INFO)."""
IN_FLIGHT = 1.0
"""Seconds after a 429 arrives during which requests sent before the tap read it may land
(generous: several tap runs share two cores while these tests run)."""
UNREADABLE = 20
"""Channels of the burst the bot cannot view."""
EARLY_LIMIT = 5

SITECUSTOMIZE = f"""
import tap_discord.ratelimit as _ratelimit
_ratelimit.RateLimiter.__init__.__kwdefaults__["ban_backoff_seconds"] = {BAN_BACKOFF}
"""


@dataclass
class Scenario:
    """World, emulator knobs and tap settings of one run."""

    spec: WorldSpec
    knobs: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    short_ban_backoff: bool = False


@dataclass
class Outcome:
    """What one run printed and what the emulator saw."""

    run: TapRun
    requests: list[RequestRecord]
    truth: dict[str, Counter]
    unreadable: set[str]
    no_history: set[str]

    @property
    def refusals(self) -> list[RequestRecord]:
        return [r for r in self.requests if r.status in (401, 403)]


def burst_world() -> WorldSpec:
    """One guild with a burst of channels the bot cannot view, and one without history."""
    return WorldSpec.small(guilds=1, unreadable_channels=UNREADABLE)


def expected_refusals() -> int:
    """403s of a full sync of the burst world: one per unreadable or history-less channel
    (its archived-thread listing; the messages stream then skips it)."""
    no_history = burst_world().no_history_channels
    assert isinstance(no_history, int)
    return UNREADABLE + no_history


SCENARIOS: dict[str, Scenario] = {
    "ban_forced": Scenario(WorldSpec.small(guilds=1), {"ban": True}, short_ban_backoff=True),
    "ban_earned": Scenario(
        burst_world(),
        {"ban_after_invalid": 4, "ban_style": "json"},
        short_ban_backoff=True,
    ),
    "global_429": Scenario(
        WorldSpec.small(guilds=1),
        {
            "faults": {"global_429": 0.05},
            "max_faults": 2,
            "fault_retry_after": GLOBAL_PAUSE / SCALE,
        },
    ),
    "burst_under_limit": Scenario(
        burst_world(), settings={"invalid_request_limit": expected_refusals() + 1}
    ),
    "guard_at_limit": Scenario(
        burst_world(), settings={"invalid_request_limit": expected_refusals()}
    ),
    "guard_early": Scenario(burst_world(), settings={"invalid_request_limit": EARLY_LIMIT}),
}


def config(emu: Emulator, **extra: Any) -> dict[str, Any]:
    return {
        "bot_token": TOKEN,
        "api_url": emu.api_url,
        "max_requests_per_second": scaled_global_share(SCALE),
        **extra,
    }


def messages_truth(emu: Emulator) -> dict[str, Counter]:
    world = emu.world
    return {
        "messages": Counter(m["id"] for cid in world.messages for m in emu.visible_messages(cid)),
        "members": Counter((gid, m["user"]["id"]) for gid, ms in world.members.items() for m in ms),
    }


def emitted(run: TapRun) -> dict[str, Counter]:
    return {
        "messages": Counter(r["id"] for r in run.records("messages")),
        "members": Counter((r["guild_id"], r["user_id"]) for r in run.records("members")),
    }


def short_ban_backoff_env(tmp: str) -> dict[str, str]:
    """PYTHONPATH with a `sitecustomize` that shortens the ban back-off (see above)."""
    Path(tmp, "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join([tmp, str(ROOT)])}


def play(scenario: Scenario) -> Outcome:
    with Emulator(scenario.spec, bot_token=TOKEN) as emu, tempfile.TemporaryDirectory() as tmp:
        emu.settings.update(rate_limits="real", time_scale=SCALE, **scenario.knobs)
        env = short_ban_backoff_env(tmp) if scenario.short_ban_backoff else None
        run = run_tap(config(emu, **scenario.settings), env=env, timeout=120)
        return Outcome(
            run,
            emu.requests,
            messages_truth(emu),
            set(emu.world.unreadable),
            set(emu.world.no_history),
        )


@pytest.fixture(scope="module")
def outcomes() -> Iterator[dict[str, Outcome]]:
    """Every scenario, run concurrently (each against its own emulator)."""
    with ThreadPoolExecutor(len(SCENARIOS)) as pool:
        futures = {name: pool.submit(play, scenario) for name, scenario in SCENARIOS.items()}
        yield {name: future.result() for name, future in futures.items()}


def error_lines(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "ERROR" in line]


def assert_one_clean_error(run: TapRun, *fragments: str) -> None:
    """Exit 1 with one ERROR line holding every fragment; no traceback, no token."""
    assert run.returncode == 1, run.stderr
    errors = error_lines(run)
    assert len(errors) == 1, run.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    assert "Traceback" not in run.output
    assert TOKEN not in run.output


# Bans ---------------------------------------------------------------------------------


def test_forced_ban_one_backoff_one_probe_then_a_clear_error(outcomes) -> None:
    out = outcomes["ban_forced"]
    assert_one_clean_error(out.run, "banned this IP", "wait about 1 hour")
    assert [r.kind for r in out.requests] == ["ban", "ban"], "the first request and one probe"
    first, probe = out.requests
    assert probe.time - first.time >= BAN_BACKOFF
    assert any("ban response" in line and "WARNING" in line for line in out.run.stderr.splitlines())


def test_ban_earned_mid_run_stops_within_a_handful_of_requests(outcomes) -> None:
    out = outcomes["ban_earned"]
    assert_one_clean_error(out.run, "banned this IP")
    kinds = [r.kind for r in out.requests]
    first_ban = kinds.index("ban")
    # The 4th invalid request earns the ban; 403s already in flight may still be answered.
    assert kinds[:first_ban].count("403") >= 4, "the emulator bans at the 4th invalid request"
    after = out.requests[first_ban:]
    # Channels are read in worker threads: requests already sent when the first ban
    # answer arrived come back too (banned, or answered just before), at most one per
    # thread; then one probe after the back-off, then nothing.
    in_flight = [r for r in after if r.time - after[0].time < BAN_BACKOFF]
    assert len(in_flight) <= DEFAULT_MAX_WORKERS + 1, "one request per thread at most"
    probe = after[len(in_flight) :]
    assert [r.kind for r in probe] == ["ban"], "after the back-off: one probe, then nothing"


# Global 429 ---------------------------------------------------------------------------


def test_global_429_pauses_every_route_then_the_sync_completes(outcomes) -> None:
    """Message pages of many channels are fetched at once (`max_workers`); a global 429
    on one of them holds every request of every route and channel for `retry_after`.
    Requests already sent when the 429 arrived may still land (IN_FLIGHT)."""
    out = outcomes["global_429"]
    assert out.run.returncode == 0, out.run.stderr
    assert emitted(out.run) == out.truth
    timeline = sorted(out.requests, key=lambda r: r.time)
    hits = [r for r in timeline if r.kind == "fault:global_429"]
    assert len(hits) == 2
    for hit in hits:
        paused = [r for r in timeline if hit.time + IN_FLIGHT <= r.time < hit.time + GLOBAL_PAUSE]
        assert not paused, "no request of any route before retry_after"
        resumed = [r for r in timeline if r.time >= hit.time + GLOBAL_PAUSE][:5]
        assert len({(r.route, r.major) for r in resumed}) >= 2, "other channels waited too"
    lines = out.run.stderr.splitlines()
    warned = [line for line in lines if "global 429: pausing all requests" in line]
    assert len(warned) == 2 and all("WARNING" in line for line in warned)
    # Each request's wait for the pause is routine once the WARNING has said why.
    waits = [line for line in lines if "Rate limit: wait" in line and "global rate limit" in line]
    assert waits and all("DEBUG" in line for line in waits), "the pause's waits at DEBUG"
    assert {r.kind for r in out.requests} <= {"ok", "403", "fault:global_429"}


# Invalid requests ---------------------------------------------------------------------


def test_burst_of_unreadable_channels_costs_one_request_each(outcomes) -> None:
    out = outcomes["burst_under_limit"]
    assert out.run.returncode == 0, out.run.stderr
    assert len(out.unreadable) == UNREADABLE
    for channel_id in out.unreadable:
        asked = [r for r in out.requests if r.major == channel_id]
        assert [r.status for r in asked] == [403], channel_id
    for channel_id in out.no_history:  # its (empty) messages may be asked first: 200 []
        asked = [r for r in out.requests if r.major == channel_id]
        assert [r.status for r in asked if r.status != 200] == [403], channel_id
    warnings = [line for line in out.run.stderr.splitlines() if "WARNING" in line]
    for channel_id in out.unreadable:
        assert sum(channel_id in line for line in warnings) == 1
    assert len(out.refusals) == expected_refusals(), "one under the guard's limit"
    assert not [r for r in out.requests if r.status == 429]
    assert emitted(out.run) == out.truth


def test_invalid_request_guard_trips_exactly_at_its_limit(outcomes) -> None:
    out = outcomes["guard_at_limit"]
    limit = expected_refusals()
    assert_one_clean_error(out.run, "invalid_request_limit", f"{limit} invalid requests")
    assert len(out.refusals) == limit
    assert out.requests[-1].status == 403, "no request after the one that reached the limit"


def test_invalid_request_guard_stops_early_with_a_low_limit(outcomes) -> None:
    out = outcomes["guard_early"]
    assert_one_clean_error(out.run, "invalid_request_limit", f"now {EARLY_LIMIT}")
    assert len(out.refusals) == EARLY_LIMIT
    assert out.requests[-1].status == 403
    assert Counter(r.path for r in out.refusals).most_common(1)[0][1] == 1
