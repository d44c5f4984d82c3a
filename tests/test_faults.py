"""Transient faults through the real tap: retried until the data is complete, or one error.

Each scenario is one run of the `tap-discord` command against its own emulator, with
Discord's rate limits (20x faster) and one kind of injected fault:

* on a few percent of requests, the output must equal the emulator's ground truth with
  no record twice, exit 0, and every fault must cost exactly one extra request;
* on every request, the run stops after `max_retries` with one line naming the URL path,
  the number of tries and the last failure, never the token;
* 400, 401, 403 and 404 are never retried (401: `test_errors.py`).

The runs mostly wait (back-off, timeouts, rate limits), so the module starts them all
at once in a thread pool and the tests check one scenario each.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.emulator import Emulator, WorldSpec
from tests.emulator.core import RequestRecord
from tests.tapharness import TapRun, run_tap, scaled_global_share

TOKEN = "faults-test-token-secret-value"
SCALE = 0.05
"""Rate-limit windows and injected `retry_after` 20x shorter than Discord's."""
FAULT_RATE = 0.05
MAX_FAULTS = 4
PARALLEL_RUNS = 4

#: Injected fault kind -> the `kind` the emulator records for it.
RECORDED_KIND = {
    "5xx_json": "fault:5xx_json",
    "5xx_html": "fault:5xx_html",
    "drop": "fault:drop",
    "slow": "fault:slow",
    "truncated_json": "fault:truncated_json",
    "html_200": "fault:html_200",
    "route_429": "fault:route_429",
    "global_429": "fault:global_429",
    "shared_429": "shared_429",
}
#: Faults the tap's back-off retries (a 429 is paced by the rate limiter instead), and
#: how the final error describes the last try.
BACKOFF_KINDS = {
    "5xx_json": r"50[0-4] [A-Z]",
    "5xx_html": r"5[0-9][0-9] [A-Z]",
    "drop": "connection dropped",
    "slow": "timed out",
    "truncated_json": "200 OK, but the body is not valid JSON",
    "html_200": "200 OK, but the body is not valid JSON",
}


@dataclass
class Scenario:
    """Emulator knobs and tap settings of one run; `prepare` may pick knobs from the world."""

    knobs: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    prepare: Callable[[Emulator], dict[str, Any]] | None = None


@dataclass
class Outcome:
    """What one run printed, what the emulator saw, and what it should have printed."""

    run: TapRun
    requests: list[RequestRecord]
    truth: dict[str, Counter]
    knobs: dict[str, Any]
    unreadable: set[str]


def vanish_a_text_channel(emu: Emulator) -> dict[str, Any]:
    """A readable text channel with messages answers 404 Unknown Channel (deleted)."""
    victim = next(
        cid
        for cid in emu.world.messages
        if emu.visible_messages(cid) and emu.world.index[cid]["type"] == 0
    )
    return {"vanished_channels": {victim}}


def timeout_for(kind: str) -> dict[str, Any]:
    """A 1 s `request_timeout` where slow faults answer after 1.5 s; elsewhere 10 s, so
    that a loaded test machine does not time out (and fetch again) an ordinary page."""
    return {"request_timeout": 1 if kind == "slow" else 10}


SCENARIOS: dict[str, Scenario] = {
    **{
        f"few:{kind}": Scenario(
            {"faults": {kind: FAULT_RATE}, "max_faults": MAX_FAULTS}, timeout_for(kind)
        )
        for kind in RECORDED_KIND
    },
    **{
        f"never:{kind}": Scenario({"faults": {kind: 1.0}}, {"max_retries": 1, **timeout_for(kind)})
        for kind in BACKOFF_KINDS
    },
    "refused": Scenario(prepare=vanish_a_text_channel),
    "bad_request": Scenario({"fail_next": [400]}),
}


def config(emu: Emulator, **extra: Any) -> dict[str, Any]:
    """Tap settings: half the global rate (the scenario sets `request_timeout`)."""
    return {
        "bot_token": TOKEN,
        "api_url": emu.api_url,
        "max_retries": 4,
        "max_requests_per_second": scaled_global_share(SCALE),
        **extra,
    }


def ground_truth(emu: Emulator) -> dict[str, Counter]:
    """Primary keys of what the bot can read, per stream."""
    world = emu.world
    return {
        "guilds": Counter(g["id"] for g in world.guilds),
        "channels": Counter(c["id"] for cs in world.channels.values() for c in cs),
        "threads": Counter(t["id"] for g in world.guilds for t in emu.visible_threads(g["id"])),
        "messages": Counter(m["id"] for cid in world.messages for m in emu.visible_messages(cid)),
        "members": Counter((gid, m["user"]["id"]) for gid, ms in world.members.items() for m in ms),
        "invites": Counter(i["code"] for invites in world.invites.values() for i in invites),
    }


def emitted(run: TapRun) -> dict[str, Counter]:
    """Primary keys of the records the tap wrote, per stream (duplicates counted)."""
    keys: dict[str, Callable[[dict[str, Any]], Any]] = {
        "guilds": lambda r: r["id"],
        "channels": lambda r: r["id"],
        "threads": lambda r: r["id"],
        "messages": lambda r: r["id"],
        "members": lambda r: (r["guild_id"], r["user_id"]),
        "invites": lambda r: r["code"],
    }
    return {name: Counter(key(r) for r in run.records(name)) for name, key in keys.items()}


def play(scenario: Scenario) -> Outcome:
    """One guild of the small world (empty, 100- and 101-message channels, every thread
    kind, an unreadable and a history-less channel), real limits 20x faster."""
    with Emulator(WorldSpec.small(guilds=1), bot_token=TOKEN) as emu:
        emu.settings.update(rate_limits="real", time_scale=SCALE, slow_seconds=1.5)
        knobs = {**scenario.knobs, **(scenario.prepare(emu) if scenario.prepare else {})}
        emu.settings.update(**knobs)
        run = run_tap(config(emu, **scenario.settings), timeout=120)
        return Outcome(run, emu.requests, ground_truth(emu), knobs, set(emu.world.unreadable))


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    """Every scenario, run concurrently (each against its own emulator)."""
    with ThreadPoolExecutor(PARALLEL_RUNS) as pool:
        futures = {name: pool.submit(play, scenario) for name, scenario in SCENARIOS.items()}
        return {name: future.result() for name, future in futures.items()}


def error_lines(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "ERROR" in line]


def assert_no_secret(run: TapRun) -> None:
    assert TOKEN not in run.output
    assert "Traceback" not in run.output


@pytest.mark.parametrize("kind", list(RECORDED_KIND))
def test_a_few_percent_of_faults_still_give_complete_data(outcomes, kind: str) -> None:
    out = outcomes[f"few:{kind}"]
    assert out.run.returncode == 0, out.run.stderr
    assert emitted(out.run) == out.truth, "complete, and no record twice"

    faulted = [r for r in out.requests if r.kind == RECORDED_KIND[kind]]
    assert 2 <= len(faulted) <= MAX_FAULTS, "the seed puts a few faults in this run"
    ok = Counter(r.path for r in out.requests if r.kind == "ok")
    assert all(ok[r.path] == 1 for r in faulted), "each faulted request succeeded once"
    assert max(ok.values()) == 1, "no page fetched twice"
    unexpected = {r.kind for r in out.requests} - {"ok", "403", RECORDED_KIND[kind]}
    assert not unexpected, "no 429 or other error caused by the retries"
    if kind in BACKOFF_KINDS:
        retries = [line for line in out.run.stderr.splitlines() if "Retrying" in line]
        assert len(retries) == len(faulted), out.run.stderr
        assert all("INFO" in line for line in retries)
    assert_no_secret(out.run)


@pytest.mark.parametrize("kind", list(BACKOFF_KINDS))
def test_a_fault_that_never_clears_is_one_clear_error(outcomes, kind: str) -> None:
    out = outcomes[f"never:{kind}"]
    assert out.run.returncode == 1
    errors = error_lines(out.run)
    assert len(errors) == 1, out.run.stderr
    assert "GET /api/v10/users/@me/guilds still failed after 2 tries" in errors[0]
    assert re.search(f"last: {BACKOFF_KINDS[kind]}", errors[0]), errors[0]
    assert [r.kind for r in out.requests] == [RECORDED_KIND[kind]] * 2
    assert_no_secret(out.run)


def test_403_and_404_cost_one_request_each(outcomes) -> None:
    out = outcomes["refused"]
    assert out.run.returncode == 0, out.run.stderr
    (victim,) = out.knobs["vanished_channels"]
    refused = [r for r in out.requests if r.status in (403, 404)]
    assert {r.status for r in refused} == {403, 404}
    assert max(Counter(r.path for r in refused).values()) == 1, "never retried"
    assert [r.status for r in out.requests if r.major == victim] == [404]
    assert out.unreadable
    for channel_id in out.unreadable:
        assert [r.status for r in out.requests if r.major == channel_id] == [403]
    assert not [line for line in out.run.stderr.splitlines() if "Retrying" in line]


def test_400_is_never_retried(outcomes) -> None:
    out = outcomes["bad_request"]
    assert out.run.returncode == 1
    errors = error_lines(out.run)
    assert len(errors) == 1 and "400" in errors[0] and "/users/@me/guilds" in errors[0]
    assert [r.status for r in out.requests] == [400]
    assert_no_secret(out.run)
