"""`pins`, `message_reactions`, `poll_votes`: the target mirrors the emulator's world.

Each run's records are applied as the target applies them (an upsert by key; a
tombstone marks its row deleted), and the rows not marked deleted must equal what the
emulator holds: pins, every reaction's users, every poll answer's voters.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import signal
from collections import Counter
from typing import Any

import jsonschema
import pytest

from tap_discord import schemas
from tap_discord.snowflake import lookback_cursor
from tests.emulator import Emulator, WorldSpec
from tests.emulator.social import emoji_key
from tests.mirrortruth import FOLLOWERS, KEYS, VALUES, Key, follower_rows
from tests.tapharness import (
    after_records,
    channel_bookmarks,
    discover,
    interrupt_tap,
    run_tap,
    select,
)

TOKEN = "mirror-data-test-token"
FOLLOWER_ROUTES = ("pins", "reactions", "poll_voters")


def spec(**changes: Any) -> WorldSpec:
    return dataclasses.replace(WorldSpec.small(), pins_per_channel=3, **changes)


class Target:
    """What target-postgres holds after loading runs: rows upserted by key."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[Key, dict[str, Any]]] = {s: {} for s in FOLLOWERS}

    def load(self, run: Any) -> None:
        for stream in FOLLOWERS:
            for record in run.records(stream):
                jsonschema.validate(record, schemas.STREAM_SCHEMAS[stream])
                key = tuple(record[k] for k in KEYS[stream])
                self.rows[stream][key] = record

    def live(self, stream: str) -> dict[Key, tuple[Any, ...]]:
        return {
            key: tuple(row[v] for v in VALUES[stream])
            for key, row in self.rows[stream].items()
            if not row.get("_sdc_deleted_at")
        }

    def deleted(self, stream: str) -> set[Key]:
        return {k for k, row in self.rows[stream].items() if row.get("_sdc_deleted_at")}


def assert_mirrors(target: Target, emu: Emulator) -> None:
    truth = follower_rows(emu)
    for stream in FOLLOWERS:
        assert target.live(stream) == truth[stream], stream


def assert_removed(target: Target, before: dict[str, Any], emu: Emulator) -> None:
    """Exactly the rows gone from the world since `before` are marked deleted."""
    now = follower_rows(emu)
    for stream in FOLLOWERS:
        assert target.deleted(stream) == set(before[stream]) - set(now[stream]), stream


def follower_requests(emu: Emulator) -> Counter[str]:
    return Counter(r.route for r in emu.requests if r.route in FOLLOWER_ROUTES)


def a_text_channel(emu: Emulator) -> str:
    """A readable text channel of the first guild, not the 2015 one."""
    guild = emu.world.guilds[0]["id"]
    readable = [
        c["id"]
        for c in emu.world.channels[guild]
        if c["type"] == 0 and emu.visible_messages(c["id"])
    ]
    return readable[1]


@pytest.fixture(scope="module")
def catalog() -> dict[str, Any]:
    with Emulator(spec(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url}
        return select(discover(config), {"guilds", "messages", *FOLLOWERS})


def test_each_run_leaves_the_target_equal_to_the_world(catalog: dict[str, Any]) -> None:
    with Emulator(spec(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url, "message_lookback": "P1D"}
        cid = a_text_channel(emu)
        guild_emoji = emu.world.emojis[emu.world.guilds[0]["id"]][0]
        users = [str(m["user"]["id"]) for m in emu.world.members[emu.world.guilds[0]["id"]][:5]]
        a, b, c, d, e = users
        m1, m2, m3, m4 = (m["id"] for m in emu.add_messages(cid, 4))
        emu.react(cid, m1, {"id": None, "name": "👍"}, a)
        emu.react(cid, m1, {"id": None, "name": "👍"}, b)
        emu.react(cid, m1, {"id": None, "name": "🎉"}, a, burst=True)
        emu.react(cid, m2, guild_emoji, c)
        emu.react(cid, m4, {"id": None, "name": "👀"}, d)
        poll = emu.post_poll(cid, ["Tea", "Coffee", "Water"])["id"]
        emu.vote(cid, poll, 1, a)
        emu.vote(cid, poll, 2, b)
        emu.pin_message(cid, m1)

        target = Target()
        first = run_tap(config, catalog=catalog)
        assert first.returncode == 0, first.stderr
        target.load(first)
        assert_mirrors(target, emu)
        assert not any(target.deleted(s) for s in FOLLOWERS)
        assert (m1, "🎉", "burst") in target.live("message_reactions")

        before = follower_rows(emu)
        emu.react(cid, m1, {"id": None, "name": "👍"}, b, add=False)  # a user takes it back
        emu.react(cid, m1, {"id": None, "name": "🎉"}, a, add=False, burst=True)  # type gone
        emu.react(cid, m2, guild_emoji, c, add=False)  # the message's last reaction
        emu.react(cid, m3, {"id": None, "name": "🚀"}, e)  # a new one
        emu.react(cid, m3, {"id": None, "name": "🚀"}, d, burst=True)
        emu.delete_message(cid, m4)
        emu.vote(cid, poll, 2, b, add=False)
        emu.vote(cid, poll, 1, c)
        emu.unpin_message(cid, m1)  # last_pin_timestamp does not move
        second = run_tap(config, catalog=catalog, state=first.final_state)
        assert second.returncode == 0, second.stderr
        target.load(second)
        assert_mirrors(target, emu)
        assert_removed(target, before, emu)
        assert (m1, "🎉", "burst") in target.deleted("message_reactions")
        assert (m2, emoji_key(guild_emoji), "normal") in target.deleted("message_reactions")
        assert (m4, "👀", "normal") in target.deleted("message_reactions")
        assert target.deleted("pins") == {(cid, m1)}

        emu.pin_message(cid, m3)
        emu.finalize_poll(cid, poll)
        third = run_tap(config, catalog=catalog, state=second.final_state)
        assert third.returncode == 0, third.stderr
        target.load(third)
        assert_mirrors(target, emu)
        assert {r["is_finalized"] for r in third.records("poll_votes")} == {True}

        emu.reset_requests()
        fourth = run_tap(config, catalog=catalog, state=third.final_state)
        assert fourth.returncode == 0, fourth.stderr
        assert follower_requests(emu) == Counter(), "an unchanged rerun reads none of them"
        assert not any(fourth.records(s) for s in FOLLOWERS)


@pytest.mark.parametrize("workers", [1, 64])
def test_the_reaction_budget_carries_the_rest_to_the_next_run(
    catalog: dict[str, Any], workers: int
) -> None:
    """One reaction at a time, or fetched ahead by worker threads: the same rows."""
    with Emulator(spec(), bot_token=TOKEN) as emu:
        needed = len(follower_rows(emu)["message_reactions"])  # one page each: counts are < 100
        assert needed > 20
        budget = needed * 2 // 3
        config = {
            "bot_token": TOKEN,
            "api_url": emu.api_url,
            "message_lookback": "P1D",
            "reaction_request_budget": budget,
            "max_workers": workers,
        }
        first = run_tap(config, catalog=catalog)
        assert first.returncode == 0, first.stderr
        assert follower_requests(emu)["reactions"] == budget
        assert f"reaction_request_budget ({budget} requests) reached" in first.stderr
        assert len(first.records("message_reactions")) == budget

        emu.reset_requests()
        second = run_tap(config, catalog=catalog, state=first.final_state)
        assert second.returncode == 0, second.stderr
        assert follower_requests(emu)["reactions"] == needed - budget
        target = Target()
        target.load(first)
        target.load(second)
        assert_mirrors(target, emu)  # the two runs together: exactly the full set
        partitions = second.final_state["bookmarks"]["message_reactions"]["partitions"]
        assert all(not p.get("reaction_backlog") for p in partitions)


@pytest.mark.parametrize("refusal", ["unreadable", "no_history"])
def test_what_the_bot_cannot_read_is_not_marked_deleted(
    catalog: dict[str, Any], refusal: str
) -> None:
    """403 (no View Channel), or no Read Message History: Discord's empty lists then
    look like everything removed, and must not be taken for it."""
    with Emulator(spec(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url, "message_lookback": "P1D"}
        cid = a_text_channel(emu)
        user = str(emu.world.members[emu.world.guilds[0]["id"]][0]["user"]["id"])
        (m1,) = (m["id"] for m in emu.add_messages(cid, 1))
        emu.react(cid, m1, {"id": None, "name": "👍"}, user)
        emu.pin_message(cid, m1)
        first = run_tap(config, catalog=catalog)
        assert first.returncode == 0, first.stderr
        target = Target()
        target.load(first)

        emu.react(cid, m1, {"id": None, "name": "👍"}, user, add=False)
        emu.unpin_message(cid, m1)
        emu.pin_message(cid, emu.add_messages(cid, 1)[0]["id"])  # moves last_pin_timestamp
        refused_set = getattr(emu.world, refusal)
        refused_set.add(cid)
        refused = run_tap(config, catalog=catalog, state=first.final_state)
        assert refused.returncode == 0, refused.stderr
        target.load(refused)
        assert not any(target.deleted(s) for s in FOLLOWERS)
        assert (m1, "👍", "normal") in target.live("message_reactions")
        assert (cid, m1) in target.live("pins")

        refused_set.discard(cid)  # readable again: the next run catches up
        later = run_tap(config, catalog=catalog, state=refused.final_state)
        assert later.returncode == 0, later.stderr
        target.load(later)
        assert_mirrors(target, emu)
        assert (m1, "👍", "normal") in target.deleted("message_reactions")
        assert (cid, m1) in target.deleted("pins")


def test_an_unpin_outside_the_window_shows_at_the_next_pin(catalog: dict[str, Any]) -> None:
    """What the README promises: an old message's unpin is found once a pin moves
    the channel's last_pin_timestamp (Discord's only pin signal outside the window)."""
    with Emulator(spec(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url, "message_lookback": "P1D"}
        cid = a_text_channel(emu)
        first = run_tap(config, catalog=catalog)
        assert first.returncode == 0, first.stderr
        target = Target()
        target.load(first)
        old = min(emu.world.social.pinned_ids(int(cid)))
        emu.unpin_message(cid, str(old))

        unseen = run_tap(config, catalog=catalog, state=first.final_state)
        target.load(unseen)
        assert (cid, str(old)) in target.live("pins"), "outside the window: not detected"

        emu.pin_message(cid, emu.add_messages(cid, 1)[0]["id"])
        seen = run_tap(config, catalog=catalog, state=unseen.final_state)
        target.load(seen)
        assert target.deleted("pins") == {(cid, str(old))}
        assert_mirrors(target, emu)


def test_more_pins_than_a_page_are_read_in_full() -> None:
    with Emulator(spec(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url}
        catalog = select(discover(config), {"guilds", "pins"})
        cid = a_text_channel(emu)
        for message in emu.add_messages(cid, 120):
            emu.pin_message(cid, message["id"])
        run = run_tap(config, catalog=catalog)
        assert run.returncode == 0, run.stderr
        pins = [r for r in run.records("pins") if r["channel_id"] == cid]
        assert len(pins) == len({r["message_id"] for r in pins}) == 123
        reads = [r for r in emu.requests if r.route == "pins" and r.major is None]
        assert len([r for r in reads if f"/channels/{cid}/" in r.path]) == 3  # 50 + 50 + 23


def test_without_messages_selected_only_pins_are_read() -> None:
    with Emulator(spec(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url}
        catalog = select(discover(config), {"guilds", *FOLLOWERS})
        run = run_tap(config, catalog=catalog)
        assert run.returncode == 0, run.stderr
        assert run.records("pins")
        assert not run.records("message_reactions") and not run.records("poll_votes")
        warnings = [line for line in run.stderr.splitlines() if "select messages too" in line]
        assert len(warnings) == 2  # one per stream, not per guild
        assert "message_reactions" in warnings[0] and "poll_votes" in warnings[1]


def test_without_the_message_content_intent_polls_are_skipped_and_said_once(
    catalog: dict[str, Any],
) -> None:
    with Emulator(spec(message_content_intent=False), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url}
        run = run_tap(config, catalog=catalog)
        assert run.returncode == 0, run.stderr
        assert not run.records("poll_votes")
        skipped = [line for line in run.stderr.splitlines() if "Skipping poll_votes" in line]
        assert len(skipped) == 1 and "| INFO" in skipped[0]  # the intent's warning is the one
        target = Target()
        target.load(run)
        truth = follower_rows(emu)
        for stream in ("pins", "message_reactions"):  # they do not need the intent
            assert target.live(stream) == truth[stream], stream


def test_a_killed_run_marks_nothing_deleted_that_exists(catalog: dict[str, Any]) -> None:
    with Emulator(spec(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url, "message_lookback": "P1D"}
        cid = a_text_channel(emu)
        users = [str(m["user"]["id"]) for m in emu.world.members[emu.world.guilds[0]["id"]][:2]]
        m1, m2 = (m["id"] for m in emu.add_messages(cid, 2))
        for user in users:
            emu.react(cid, m1, {"id": None, "name": "👍"}, user)
        emu.react(cid, m2, {"id": None, "name": "👀"}, users[0])
        emu.pin_message(cid, m1)
        first = run_tap(config, catalog=catalog)
        assert first.returncode == 0, first.stderr
        target = Target()
        target.load(first)

        emu.react(cid, m1, {"id": None, "name": "👍"}, users[1], add=False)
        emu.react(cid, m2, {"id": None, "name": "👀"}, users[0], add=False)
        emu.unpin_message(cid, m1)
        killed = interrupt_tap(
            config,
            after_records(1, "message_reactions"),
            signal.SIGKILL,
            state=first.final_state,
            catalog=catalog,
        )
        assert killed.returncode != 0 and killed.records("message_reactions")
        target.load(killed)
        truth = follower_rows(emu)
        for stream in FOLLOWERS:
            assert not target.deleted(stream) & set(truth[stream]), stream

        resumed = run_tap(config, catalog=catalog, state=killed.final_state or first.final_state)
        assert resumed.returncode == 0, resumed.stderr
        target.load(resumed)
        assert_mirrors(target, emu)
        assert (m2, "👀", "normal") in target.deleted("message_reactions")


def test_the_state_keeps_counts_of_the_next_window_only(catalog: dict[str, Any]) -> None:
    """The bound the README gives: reaction and poll counts of the messages the next
    run re-reads, nothing older; without a lookback, nothing at all."""
    with Emulator(spec(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url, "message_lookback": "P1D"}
        run = run_tap(config, catalog=catalog)
        assert run.returncode == 0, run.stderr
        bookmarks = channel_bookmarks(run.final_state)
        held = 0
        for stream, key in (
            ("message_reactions", "reaction_counts"),
            ("poll_votes", "poll_counts"),
        ):
            for partition in run.final_state["bookmarks"][stream]["partitions"]:
                for channel_id, messages in partition.get(key, {}).items():
                    start = lookback_cursor(int(bookmarks[channel_id]), dt.timedelta(days=1))
                    assert all(int(m) > start for m in messages), (stream, channel_id)
                    held += len(messages)
        assert 0 < held < len(run.records("message_reactions")) // 4

        plain = run_tap({**config, "message_lookback": ""}, catalog=catalog, state=run.final_state)
        assert plain.returncode == 0, plain.stderr
        for stream, key in (
            ("message_reactions", "reaction_counts"),
            ("poll_votes", "poll_counts"),
        ):
            for partition in plain.final_state["bookmarks"][stream]["partitions"]:
                assert not partition.get(key), stream


def test_no_table_version_applies_to_the_streams_that_follow_messages(
    catalog: dict[str, Any],
) -> None:
    """They re-read part of their rows: an ACTIVATE_VERSION would soft-delete the rest."""
    with Emulator(spec(), bot_token=TOKEN) as emu:
        config = {
            "bot_token": TOKEN,
            "api_url": emu.api_url,
            "emit_activate_version_messages": True,
        }
        run = run_tap(config, catalog=catalog)
        assert run.returncode == 0, run.stderr
        versioned = {m["stream"] for m in run.messages if m.get("type") == "ACTIVATE_VERSION"}
        assert "guilds" in versioned, "the setting reaches the SDK: full-table streams get one"
        assert versioned.isdisjoint(FOLLOWERS)
