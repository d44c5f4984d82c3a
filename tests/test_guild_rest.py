"""The rest of a guild: bans, AutoMod rules, webhooks, integrations, onboarding, welcome
screen, soundboard, event RSVPs, thread members, role member counts, vanity URL.

Each stream's records equal the emulator's world; webhook credentials never leave the
tap (the harness scans every run's output at DEBUG for the emulator's webhook tokens);
a missing permission or intent skips one guild's stream with one warning after one
refused request, which the invalid-request guard counts; paging follows Discord's
limits; ended events and quiet threads are not read again.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from tests.emulator import Emulator, WorldSpec
from tests.guildrest_truth import STREAMS, expected, key_of
from tests.tapharness import TapRun, discover, run_tap, select

TOKEN = "guild-rest-bot-token"
#: The new streams plus thread_members' and scheduled_event_users' list streams.
SELECTED = {*STREAMS, "threads", "scheduled_events"}


def sync(emu: Emulator, state: dict[str, Any] | None = None, **config: Any) -> TapRun:
    """One run of the tap with the new streams selected (thread_members included)."""
    settings = {"bot_token": TOKEN, "api_url": emu.api_url, **config}
    catalog = select(discover(settings), SELECTED)
    run = run_tap(settings, catalog=catalog, state=state)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def emitted(run: TapRun, stream: str) -> list[dict[str, Any]]:
    return sorted(run.records(stream), key=key_of(stream))


def requests_by_route(emu: Emulator) -> Counter[str]:
    return Counter(r.route for r in emu.requests)


@pytest.fixture(scope="module")
def emu():
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def full_run(emu: Emulator) -> TapRun:
    emu.reset_requests()
    return sync(emu)


@pytest.mark.parametrize("stream", STREAMS)
def test_records_equal_the_world(emu: Emulator, full_run: TapRun, stream: str) -> None:
    threads = {str(t["id"]) for t in full_run.records("threads")}
    want = expected(emu.world, threads)[stream]
    assert want, f"the small world has {stream}"
    assert emitted(full_run, stream) == want


def test_one_request_per_guild_for_the_guild_lists(emu: Emulator, full_run: TapRun) -> None:
    routes = requests_by_route(emu)
    guilds = len(emu.world.guilds)
    for route in (
        "bans",
        "automod_rules",
        "guild_webhooks",
        "integrations",
        "onboarding",
        "welcome_screen",
        "soundboard_sounds",
        "role_member_counts",
        "vanity_url",
    ):
        assert routes[route] == guilds, route
    # One page per event and per thread (the small world's lists fit in one page each).
    events = sum(len(emu.world.scheduled_events[g["id"]]) for g in emu.world.guilds)
    assert routes["scheduled_event_users"] == events
    assert routes["thread_members"] == len(full_run.records("threads"))


def test_webhook_credentials_are_never_emitted(emu: Emulator, full_run: TapRun) -> None:
    served = [h for g in emu.world.guilds for h in emu.world.guild_rest.webhooks[g["id"]]]
    assert any("token" in h for h in served) and any("url" in h for h in served)
    assert emu.world.guild_rest.secrets() <= emu.secrets()  # the harness scans for them
    for record in full_run.records("webhooks"):
        assert not {"token", "url"} & record.keys()
    assert "token" not in full_run.schema("webhooks")["schema"]["properties"]
    assert "discord.com/api/webhooks/" not in full_run.output


def test_nullable_fields_arrive_as_null(full_run: TapRun) -> None:
    """The documented nulls reach the target as null, not as a dropped record."""
    assert any(b["reason"] is None for b in full_run.records("bans"))
    assert any(h["channel_id"] is None for h in full_run.records("webhooks"))  # application
    assert any(w["description"] is None for w in full_run.records("welcome_screen"))
    assert any(v["code"] is None for v in full_run.records("vanity_url"))
    assert any("mode" not in o for o in full_run.records("onboarding"))


# Refusals ---------------------------------------------------------------------------------

#: Emulator settings that take each permission or intent away, and the route it refuses.
REFUSALS = {
    "ban_members": ("bans", "Ban Members"),
    "manage_webhooks": ("guild_webhooks", "Manage Webhooks"),
    "members_intent": ("thread_members", "Server Members"),
}
MANAGE_SERVER_ROUTES = ("automod_rules", "integrations", "vanity_url")


@pytest.fixture(scope="module")
def refused() -> Any:
    spec = WorldSpec.small()
    with Emulator(spec, bot_token=TOKEN) as emulator:
        emulator.settings.update(
            ban_members=False, manage_webhooks=False, members_intent=False, manage_guild=False
        )
        yield emulator


@pytest.fixture(scope="module")
def refused_run(refused: Emulator) -> TapRun:
    refused.reset_requests()
    return sync(refused)


def refusals_by_route(emu: Emulator) -> Counter[tuple[str, str | None]]:
    return Counter((r.route, r.major) for r in emu.requests if r.status == 403)


def test_a_missing_permission_skips_each_guild_once(refused: Emulator, refused_run: TapRun) -> None:
    guilds = [g["id"] for g in refused.world.guilds]
    refusals = refusals_by_route(refused)
    routes = [route for route, _ in REFUSALS.values()] + list(MANAGE_SERVER_ROUTES)
    for route in routes:
        if route == "thread_members":  # per channel: one thread per guild is asked
            asked = [major for (name, major) in refusals if name == route]
            assert len(asked) == len(guilds), refusals
            continue
        for guild in guilds:
            assert refusals[(route, guild)] == 1, (route, refusals)
    # The disabled welcome screen (second guild) needs Manage Server; the enabled one not.
    assert refusals[("welcome_screen", guilds[1])] == 1
    assert refusals[("welcome_screen", guilds[0])] == 0
    for stream in ("bans", "webhooks", "automod_rules", "integrations", "vanity_url"):
        assert refused_run.records(stream) == [], stream
    # What needs no permission still arrives, and the run went on.
    assert len(refused_run.records("onboarding")) == len(guilds)
    assert refused_run.records("role_member_counts")


def test_one_warning_per_guild_and_stream_naming_the_permission(
    refused: Emulator, refused_run: TapRun
) -> None:
    guilds = len(refused.world.guilds)
    warnings = [line for line in refused_run.stderr.splitlines() if "WARNING" in line]
    wanted = {
        "bans": "Ban Members",
        "webhooks": "Manage Webhooks",
        "thread_members": "Server Members",
        "automod_rules": "Manage Server",
        "integrations": "Manage Server",
        "vanity_url": "Manage Server",
    }
    for stream, permission in wanted.items():
        mine = [w for w in warnings if re.search(rf"Skipping {stream} for guild_id=", w)]
        assert len(mine) == guilds, (stream, mine)
        assert all(permission in w for w in mine), mine
    welcome = [w for w in warnings if "Skipping welcome_screen" in w]
    assert len(welcome) == 1 and "Manage Server" in welcome[0]


def test_the_invalid_request_guard_counts_the_refusals(
    refused: Emulator, refused_run: TapRun
) -> None:
    """With room for the run's refusals it passes; with one fewer the guard stops it.

    (The run's last request is a refusal, so a limit equal to the refusals is reached
    only once nothing is left to ask.)
    """
    refusals = sum(1 for r in refused.requests if r.status == 403)
    settings = {"bot_token": TOKEN, "api_url": refused.api_url}
    catalog = select(discover(settings), SELECTED)
    passes = run_tap({**settings, "invalid_request_limit": refusals + 1}, catalog=catalog)
    assert passes.returncode == 0, passes.stderr[-2000:]
    stops = run_tap({**settings, "invalid_request_limit": refusals - 1}, catalog=catalog)
    assert stops.returncode == 1
    assert "invalid requests" in stops.stderr


# Paging -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big() -> Any:
    spec = WorldSpec.small(guilds=1, members=240, bans=1001, event_users=150, thread_members=120)
    with Emulator(spec, bot_token=TOKEN) as emulator:
        yield emulator


def test_lists_longer_than_a_page_are_read_in_full(big: Emulator) -> None:
    big.reset_requests()
    run = sync(big)
    threads = {str(t["id"]) for t in run.records("threads")}
    truth = expected(big.world, threads)
    for stream in ("bans", "scheduled_event_users", "thread_members"):
        assert emitted(run, stream) == truth[stream], stream
    assert len(truth["bans"]) == 1001
    pages = [r.path for r in big.requests if r.route == "bans"]
    assert len(pages) == 2 and all("limit=1000" in p for p in pages)
    first_event = big.world.scheduled_events[big.world.guilds[0]["id"]][0]["id"]
    event_pages = [r.path for r in big.requests if f"/scheduled-events/{first_event}/" in r.path]
    assert len(event_pages) == 2 and all("limit=100" in p for p in event_pages)
    first_thread = big.world.threads[big.world.guilds[0]["id"]][0]["id"]
    thread_pages = [
        r.path for r in big.requests if f"/channels/{first_thread}/thread-members" in r.path
    ]
    assert len(thread_pages) == 2 and all("with_member=true" in p for p in thread_pages)


# What is not read again ------------------------------------------------------------------


def test_ended_events_are_read_once(emu: Emulator) -> None:
    guild = emu.world.guilds[0]["id"]
    ended, running = emu.world.scheduled_events[guild][:2]
    previous = ended["status"]
    ended["status"] = 3  # COMPLETED
    try:
        first = sync(emu)
        partitions = first.final_state["bookmarks"]["scheduled_event_users"]["partitions"]
        finished = {e for p in partitions for e in p.get("finished_events", [])}
        assert finished == {ended["id"]}
        emu.reset_requests()
        second = sync(emu, state=first.final_state)
        asked = {
            r.path.split("/scheduled-events/")[1].split("/")[0]
            for r in emu.requests
            if r.route == "scheduled_event_users"
        }
        assert ended["id"] not in asked
        assert running["id"] in asked  # not ended: read on every run
        assert not [
            r
            for r in second.records("scheduled_event_users")
            if r["guild_scheduled_event_id"] == ended["id"]
        ]
    finally:
        ended["status"] = previous


def test_only_threads_with_new_activity_are_read_again(emu: Emulator) -> None:
    first = sync(emu)
    emu.reset_requests()
    quiet = sync(emu, state=first.final_state)
    assert requests_by_route(emu)["thread_members"] == 0
    assert quiet.records("thread_members") == []
    thread = next(t for t in quiet.records("threads") if not t["thread_metadata"]["archived"])
    emu.add_messages(thread["id"], 1)
    emu.reset_requests()
    busy = sync(emu, state=quiet.final_state)
    asked = [r.path for r in emu.requests if r.route == "thread_members"]
    assert len(asked) == 1 and f"/channels/{thread['id']}/" in asked[0]
    assert {r["thread_id"] for r in busy.records("thread_members")} == {thread["id"]}


def test_a_damaged_state_entry_reads_everything_again_with_one_warning(emu: Emulator) -> None:
    guilds = [g["id"] for g in emu.world.guilds]
    damaged = {
        "bookmarks": {
            "thread_members": {
                "partitions": [
                    {"context": {"guild_id": guilds[0]}, "thread_marks": ["not", "a", "map"]}
                ]
            },
            "scheduled_event_users": {
                "partitions": [{"context": {"guild_id": guilds[0]}, "finished_events": "x"}]
            },
        }
    }
    emu.reset_requests()
    run = sync(emu, state=damaged)
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line and "state:" in line]
    assert len(warnings) == 2, warnings
    assert "thread_marks" in warnings[0] + warnings[1]
    assert "finished_events" in warnings[0] + warnings[1]
    threads = {str(t["id"]) for t in run.records("threads")}
    truth = expected(emu.world, threads)
    assert emitted(run, "thread_members") == truth["thread_members"]
    assert emitted(run, "scheduled_event_users") == truth["scheduled_event_users"]
    assert "Traceback" not in run.stderr


def test_an_event_on_a_channel_the_bot_cannot_view_is_skipped_alone() -> None:
    with Emulator(WorldSpec.small(scheduled_events=4), bot_token=TOKEN) as emu:
        guild = emu.world.guilds[0]["id"]
        voice = [e for e in emu.world.scheduled_events[guild] if e["entity_type"] == 2]
        assert len(voice) == 2, "two voice events on the one voice channel"
        emu.world.unreadable.add(voice[0]["channel_id"])
        run = sync(emu)
        refused = [
            r for r in emu.requests if r.route == "scheduled_event_users" and r.status == 403
        ]
        assert len(refused) == 1, "the channel's second event is not asked"
        skipped = [w for w in run.stderr.splitlines() if "Skipping scheduled_event_users" in w]
        assert len(skipped) == 1 and "View Channel" in skipped[0]
        truth = expected(emu.world)["scheduled_event_users"]
        blind = {e["id"] for e in voice}
        want = [r for r in truth if r["guild_scheduled_event_id"] not in blind]
        assert want and emitted(run, "scheduled_event_users") == want
