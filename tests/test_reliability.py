"""Reliability proof: the tap does not lose data, whatever happens to the run.

Each test runs the real `tap-discord` command against the emulator over HTTP and
checks what a user depends on:

* kill and resume: SIGKILL at seeded random points of the output (every stream, the
  parallel default and one worker), rerun from the last STATE the killed run printed:
  every record of ground truth arrives, and a message is repeated at most one page per
  channel (the figures are printed at the end of the session);
* every injected fault kind at 5 % each, all at once: complete data, exit 0;
* messages posted, edited and deleted while the tap runs: none posted is missed by this
  run or the next;
* a guild where a third of the channels are unreadable: each costs exactly one invalid
  request (401/403/429), far from Discord's ban;
* responses that break the schema: warnings and valid records, or one error naming
  the record;
* secrets: a DEBUG run through OAuth2 refreshes, 401s, faults and fatal errors prints
  no token (the harness scans every run of the suite; this test makes sure the scan
  has issued tokens to look for, and that it would catch one).

Soaks with more trials and bigger worlds are marked `slow` (`make soak`).
"""

from __future__ import annotations

import json
import random
import signal
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest

from tests.emulator import Emulator, WorldSpec
from tests.emulator.control import writable_channels
from tests.emulator.faults import FAULT_KINDS
from tests.tapharness import (
    REPORT,
    SecretLeakError,
    TapRun,
    after_lines,
    assert_no_secrets,
    interrupt_tap,
    known_secrets,
    run_tap,
    scaled_global_share,
)
from tests.test_faults import emitted, ground_truth

TOKEN = "reliability-test-token-secret"
CLIENT_ID = "998877665544332211"
CLIENT_SECRET = "reliability-client-secret-value"
PAGE = 100
POOL = 4
#: Real Discord rate limits, 20x faster: the limiter, 429s and prefetching all matter.
SCALE = 0.05


def config(emu: Emulator, **extra: Any) -> dict[str, Any]:
    return {
        "bot_token": TOKEN,
        "api_url": emu.api_url,
        "max_requests_per_second": scaled_global_share(SCALE),
        **extra,
    }


def real_limits(emu: Emulator, scale: float = SCALE) -> Emulator:
    emu.settings.update(rate_limits="real", time_scale=scale)
    return emu


def errors_of(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "| ERROR" in line]


def warnings_of(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "| WARNING" in line]


# Kill and resume ------------------------------------------------------------------------


@dataclass
class Trial:
    """One SIGKILL at a seeded point, and the resumed run."""

    seed: int
    workers: int | None
    killed_at: str
    lines: int
    complete: bool
    duplicates: int
    worst_channel: int
    kills: int


def reference_lines(spec: WorldSpec) -> int:
    """Lines an uninterrupted run prints (checked exact): the range kill points fall in."""
    with real_limits(Emulator(spec, bot_token=TOKEN)) as emu:
        reference = run_tap(config(emu))
        assert reference.returncode == 0, reference.stderr[-2000:]
        assert emitted(reference) == ground_truth(emu), "an uninterrupted run is exact"
    return len(reference.stdout.splitlines())


def kill_and_resume(
    spec: WorldSpec, seed: int, workers: int | None, total: int, kills: int = 1
) -> Trial:
    """Runs killed at seeded lines, each resuming from the last STATE printed so far,
    then a run to the end."""
    rng = random.Random(seed)
    points = [rng.randint(1, total - 1) for _ in range(kills)]
    runs: list[TapRun] = []
    state: dict[str, Any] | None = None
    with real_limits(Emulator(spec, bot_token=TOKEN)) as emu:
        cfg = config(emu) if workers is None else config(emu, max_workers=workers)
        for point in points:
            runs.append(interrupt_tap(cfg, after_lines(point), signal.SIGKILL, state=state))
            state = runs[-1].final_state or state
        resumed = run_tap(cfg, state=state)
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        runs.append(resumed)
        truth = ground_truth(emu)
    union: dict[str, set] = {name: set() for name in truth}
    for run in runs:
        for name, keys in emitted(run).items():
            union[name] |= set(keys)
    seen: set[str] = set()
    doubled: Counter[str] = Counter()
    for record in (r for run in runs for r in run.records("messages")):
        if record["id"] in seen:
            doubled[record["channel_id"]] += 1
        seen.add(record["id"])
    return Trial(
        seed=seed,
        workers=workers,
        killed_at="+".join(map(str, points)),
        lines=total,
        complete=all(union[name] == set(keys) for name, keys in truth.items()),
        duplicates=sum(doubled.values()),
        worst_channel=max(doubled.values(), default=0),
        kills=kills,
    )


def kill_trials(spec: WorldSpec, seeds: range, label: str, kills: int = 1) -> list[Trial]:
    """Trials in a pool; every fourth with one worker, the rest with the default (32)."""
    total = reference_lines(spec)
    with ThreadPoolExecutor(POOL) as pool:
        futures = [
            pool.submit(kill_and_resume, spec, seed, 1 if seed % 4 == 3 else None, total, kills)
            for seed in seeds
        ]
        trials = [future.result() for future in futures]
    dupes = [t.duplicates for t in trials]
    REPORT.append(
        f"kill/resume {label}: {sum(t.kills for t in trials)} SIGKILLs in {len(trials)} "
        f"trials, {sum(t.complete for t in trials)} complete after resume; "
        f"duplicated messages per trial: total {sum(dupes)}, "
        f"max {max(dupes)}, mean {sum(dupes) / len(dupes):.1f}; max per channel "
        f"{max(t.worst_channel for t in trials)} (limit {PAGE} per kill); killed at line "
        + ", ".join(f"{t.killed_at}/{t.lines}" for t in trials)
    )
    return trials


def assert_trials(trials: list[Trial]) -> None:
    incomplete = [t for t in trials if not t.complete]
    assert not incomplete, f"data lost after resume: {incomplete}"
    over = [t for t in trials if t.worst_channel > PAGE * t.kills]
    assert not over, f"more than one page per kill repeated in a channel: {over}"


def test_sigkill_at_20_random_points_then_resume_loses_nothing() -> None:
    trials = kill_trials(WorldSpec.small(guilds=1), range(20), "small world, 20 trials")
    assert_trials(trials)
    assert {t.workers for t in trials} == {None, 1}, "parallel default and one worker"


@pytest.mark.slow
def test_soak_sigkill_at_100_random_points_in_a_paged_world() -> None:
    spec = WorldSpec.small(guilds=2, messages_per_channel=[0, 350, 101, 730, 12, 250, 60, 3])
    assert_trials(kill_trials(spec, range(100, 200), "paged world, 100 trials"))


@pytest.mark.slow
def test_soak_three_kills_in_a_row_then_resume_loses_nothing() -> None:
    spec = WorldSpec.small(guilds=2, messages_per_channel=[0, 350, 101, 730, 12, 250, 60, 3])
    trials = kill_trials(spec, range(200, 230), "paged world, 3 kills in a row", kills=3)
    assert_trials(trials)


@pytest.mark.slow
def test_soak_every_fault_kind_at_once_over_many_seeds() -> None:
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda seed: play_all_faults(seed, None), range(20, 30)))
    for run, got, truth, _ in outcomes:
        assert run.returncode == 0, run.stderr[-3000:]
        assert got == truth
    requests = sum((outcome[3] for outcome in outcomes), Counter())
    REPORT.append(
        f"all faults at 5 % each, {len(outcomes)} seeds: all exact; "
        f"{sum(n for k, n in requests.items() if k != 'ok')} of {sum(requests.values())} "
        "requests faulted"
    )


# Faults ------------------------------------------------------------------------------


def play_all_faults(seed: int, workers: int | None) -> tuple[TapRun, dict, dict, Counter]:
    """One run with every fault kind at 5 % each (45 % of requests fail first)."""
    with real_limits(Emulator(WorldSpec.small(guilds=1), bot_token=TOKEN)) as emu:
        every = dict.fromkeys(FAULT_KINDS, 0.05)
        emu.settings.update(faults=every, max_faults=10**6, fault_seed=seed, slow_seconds=1.5)
        # 45 % of requests fail: 20 tries make a request that fails every one of them
        # (0.45^20, about 1e-7) unlikely in any CI run; 12 left it at ~1e-4 per run.
        extra = {"request_timeout": 1, "max_retries": 20}
        if workers is not None:
            extra["max_workers"] = workers
        run = run_tap(config(emu, **extra), timeout=280)
        kinds = Counter(r.kind for r in emu.requests)
        return run, emitted(run), ground_truth(emu), kinds


def test_every_fault_kind_at_once_still_gives_complete_data() -> None:
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda args: play_all_faults(*args), [(7, None), (8, 1)]))
    for run, got, truth, _ in outcomes:
        assert run.returncode == 0, run.stderr[-3000:]
        assert got == truth, "complete, and no record twice"
        assert "Traceback" not in run.output
    # ~120 requests a run: each kind shows up in one of the two runs (P(miss) ~ 1e-5).
    kinds = sum((outcome[3] for outcome in outcomes), Counter())
    faulted = {k.removeprefix("fault:") for k in kinds if k.startswith("fault:")}
    faulted |= {"shared_429"} if kinds["shared_429"] else set()
    assert faulted == set(FAULT_KINDS), f"every kind was injected: {kinds}"
    REPORT.append(
        "all faults at 5 % each: "
        + "; ".join(
            f"{sum(n for k, n in kinds.items() if k != 'ok')} faulted of "
            f"{sum(kinds.values())} requests, {sum(len(v) for v in got.values())} records exact"
            for _, got, _, kinds in outcomes
        )
    )


# Live writes ---------------------------------------------------------------------------


class Writer(threading.Thread):
    """Posts, edits and deletes messages while the tap runs (as Discord users would)."""

    def __init__(self, emu: Emulator, seed: int) -> None:
        super().__init__(daemon=True)
        self.emu = emu
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.posted: set[str] = set()
        self.deleted: set[str] = set()
        self.edited = 0

    def run(self) -> None:
        channels = writable_channels(self.emu)
        while not self.stop.wait(0.01):
            channel = self.rng.choice(channels)
            for message in self.emu.add_messages(channel, self.rng.randint(1, 3)):
                self.posted.add(message["id"])
            existing = [m["id"] for m in self.emu.visible_messages(channel)]
            if existing and self.rng.random() < 0.3:
                self.emu.edit_message(channel, self.rng.choice(existing), "edited live")
                self.edited += 1
            if len(existing) > 1 and self.rng.random() < 0.2:
                victim = self.rng.choice(existing)
                self.emu.delete_message(channel, victim)
                self.deleted.add(victim)


def test_messages_written_during_a_run_are_read_by_it_or_the_next() -> None:
    with real_limits(Emulator(WorldSpec.small(guilds=1), bot_token=TOKEN), scale=0.2) as emu:
        writer = Writer(emu, seed=5)
        writer.start()
        try:
            first = run_tap(config(emu, max_requests_per_second=250))
        finally:
            writer.stop.set()
            writer.join(5)
        assert first.returncode == 0, first.stderr[-2000:]
        second = run_tap(config(emu), state=first.final_state)
        assert second.returncode == 0, second.stderr[-2000:]
        now = {m["id"] for cid in emu.world.messages for m in emu.visible_messages(cid)}
    got = Counter(r["id"] for r in first.records("messages") + second.records("messages"))
    assert len(writer.posted) > 50 and writer.deleted and writer.edited, "writes happened"
    missed = (writer.posted - writer.deleted) - set(got)
    assert not missed, f"{len(missed)} posted messages never read"
    assert now <= set(got), "every message that exists at the end was read"
    assert set(got) - now <= writer.deleted, "nothing read that never existed"
    assert max(got.values()) == 1, "the second run starts exactly where the first stopped"
    REPORT.append(
        f"live writes: {len(writer.posted)} posted, {writer.edited} edited, "
        f"{len(writer.deleted)} deleted during run 1; run 1 read "
        f"{len(first.records('messages'))}, run 2 read {len(second.records('messages'))}, "
        "0 missed, 0 twice"
    )


# Invalid-request budget ---------------------------------------------------------------


def test_unreadable_third_of_channels_costs_one_invalid_request_each() -> None:
    spec = WorldSpec.small(guilds=1, text_channels=9, unreadable_channels=0)
    with real_limits(Emulator(spec, bot_token=TOKEN)) as emu:
        guild = emu.world.guilds[0]["id"]
        channels = sorted(
            (c for c in emu.world.channels[guild] if c["type"] in (0, 2, 5, 13, 15, 16)),
            key=lambda c: int(c["id"]),
        )
        hidden = {c["id"] for c in channels[::3]}
        emu.world.unreadable |= hidden
        run = run_tap(config(emu))
        requests = emu.requests
        truth = ground_truth(emu)
    assert run.returncode == 0, run.stderr[-2000:]
    assert emitted(run)["messages"] == truth["messages"], "everything readable was read"
    invalid = [
        r
        for r in requests
        if r.status in (401, 403) or (r.status == 429 and r.kind != "shared_429")
    ]
    per_resource = Counter(r.major for r in invalid)
    assert max(per_resource.values()) == 1, f"each unreadable resource tried once: {invalid}"
    refused = set(per_resource)
    assert hidden <= refused, "every hidden channel was tried (and refused) once"
    assert refused <= hidden | emu.world.no_history, "no other invalid request"
    assert len(invalid) < 10_000 / 100, "two orders of magnitude below Discord's ban"
    REPORT.append(
        f"invalid-request budget: {len(hidden)} of {len(channels)} channels unreadable "
        f"(+{len(refused - hidden)} without history) -> {len(invalid)} invalid requests, "
        f"of {len(requests)}"
    )


# Responses that break the schema ---------------------------------------------------------

#: Wrong types on nullable fields and brand-new fields, on a tenth of the objects.
REPAIRABLE = {
    "messages": [
        {"rate": 0.1, "set": {"flags": "lots", "pinned_at": 7, "brand_new_field": {"x": 1}}}
    ],
    "guild_channels": [{"rate": 0.3, "set": {"topic": ["not", "text"], "new_thing": 1}}],
}


def validate_against_schemas(run: TapRun) -> int:
    """Every RECORD valid against its stream's SCHEMA message; returns how many."""
    validators = {
        m["stream"]: jsonschema.Draft7Validator(m["schema"])
        for m in run.messages
        if m["type"] == "SCHEMA"
    }
    count = 0
    for message in run.messages:
        if message["type"] == "RECORD":
            errors = list(validators[message["stream"]].iter_errors(message["record"]))
            assert not errors, (message["stream"], message["record"].get("id"), errors[0])
            count += 1
    return count


def test_wrong_types_and_new_fields_warn_once_and_records_stay_valid() -> None:
    with real_limits(Emulator(WorldSpec.small(guilds=1), bot_token=TOKEN)) as emu:
        emu.settings.corrupt = REPAIRABLE
        run = run_tap(config(emu))
        truth = ground_truth(emu)
    assert run.returncode == 0, run.stderr[-2000:]
    assert emitted(run) == truth, "no record lost or doubled"
    assert validate_against_schemas(run) >= sum(sum(c.values()) for c in truth.values())
    warned = warnings_of(run)
    for stream, field in [
        ("messages", "flags"),
        ("messages", "brand_new_field"),
        ("channels", "topic"),
        ("channels", "new_thing"),
    ]:
        lines = [w for w in warned if f"| tap-discord.{stream} " in w and field in w]
        assert len(lines) == 1, (stream, field, warned)
    bent = [r for r in run.records("messages") if "brand_new_field" in r]
    assert bent and all(r["flags"] is None for r in bent), "wrong type written as null"


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ({"rate": 0.05, "drop": ["id"]}, "without an id"),
        ({"rate": 0.05, "set": {"tts": "yes"}}, "tts is 'yes'"),
    ],
    ids=["missing id", "required field of the wrong type"],
)
def test_a_record_that_cannot_be_valid_stops_the_run_naming_it(rule: dict, named: str) -> None:
    with real_limits(Emulator(WorldSpec.small(guilds=1), bot_token=TOKEN)) as emu:
        emu.settings.corrupt = {"messages": [rule]}
        run = run_tap(config(emu))
    assert run.returncode == 1
    assert "Traceback" not in run.output
    (error,) = errors_of(run)
    assert "messages:" in error and named in error and "/channels/" in error, error
    validate_against_schemas(run)  # what was written before the stop is valid


# Secrets ---------------------------------------------------------------------------------


def test_no_secret_in_debug_output_through_refreshes_401s_faults_and_errors(tmp_path) -> None:
    with Emulator(WorldSpec.small(guilds=2), bot_token=TOKEN) as emu:
        emu.settings.update(oauth_clients={CLIENT_ID: CLIENT_SECRET}, access_token_ttl=1.0)
        refresh = emu.issue_refresh_token(CLIENT_ID, "identify guilds connections")
        oauth = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": refresh,
            "api_url": emu.api_url,
            "token_store_path": str(tmp_path / "store.json"),
            "max_requests_per_second": 3,
        }
        emu.settings.update(faults={"5xx_json": 0.1, "drop": 0.1}, max_faults=4)
        runs = [run_tap(oauth)]
        emu.settings.update(faults={}, fail_next=[401])
        runs.append(run_tap(oauth))  # a 401 mid-run: refresh and retry
        runs.append(run_tap({**oauth, "client_secret": "wrong-client-secret"}))
        runs.append(run_tap({**oauth, "token_store_path": str(tmp_path / "other.json")}))
        emu.settings.update(fail_next=[401])
        runs.append(run_tap(config(emu)))  # a bot token rejected mid-run
        secrets = known_secrets()
    assert [r.returncode for r in runs] == [0, 0, 1, 1, 1], [r.stderr[-800:] for r in runs]
    assert any("refreshed" in line for r in runs for line in r.stderr.splitlines())
    # The bot token, the client secret and at least three issued OAuth2 tokens.
    assert {TOKEN, CLIENT_SECRET, refresh} <= secrets and len(secrets) >= 5
    for run in runs:
        assert "DEBUG" in run.stderr, "the runs were at DEBUG"
        assert not [s for s in secrets if s in run.output]


def test_the_secret_scan_catches_a_leak() -> None:
    with Emulator(WorldSpec.small(guilds=1), bot_token=TOKEN) as emu:
        emu.settings.update(oauth_clients={CLIENT_ID: CLIENT_SECRET})
        issued = emu.issue_refresh_token(CLIENT_ID, "identify")
        with pytest.raises(SecretLeakError) as caught:
            assert_no_secrets(f"DEBUG | refreshing with {issued}\n")
        assert issued not in str(caught.value), "the report never repeats the secret"
        with pytest.raises(SecretLeakError):
            assert_no_secrets(json.dumps({"Authorization": f"Bot {TOKEN}"}))
