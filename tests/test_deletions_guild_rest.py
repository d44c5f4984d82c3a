"""Deletions in the rest of a guild: after each complete run the target mirrors Discord.

Between runs the emulator unbans a user, deletes an AutoMod rule, a webhook, an
integration and a soundboard sound, a user withdraws an event RSVP, a member leaves a
thread, an event and a thread are deleted. The runs' output applied the way
target-postgres applies it (`mirrortarget.py`) must then equal the emulator's world,
with exactly the removed rows marked deleted: the full-table streams by
`ACTIVATE_VERSION`, the partial ones (`scheduled_event_users`, `thread_members`) by
tombstones. A refused list (403) marks nothing deleted; the next readable run does.
"""

from __future__ import annotations

import signal
from typing import Any

from tap_discord.listings import LISTED_KEY
from tap_discord.seenwindow import decode_ids
from tests.emulator import Emulator, WorldSpec
from tests.emulator.removals import remove
from tests.guildrest_truth import KEYS, STREAMS, expected
from tests.mirrortarget import MirrorTarget
from tests.tapharness import (
    TapRun,
    after_lines,
    discover,
    interrupt_tap,
    run_tap,
    select,
)

TOKEN = "deletions-guild-rest-token"
SELECTED = {*STREAMS, "threads", "scheduled_events"}
PARTIAL = ("scheduled_event_users", "thread_members")
ENDED = (3, 4)

Keys = set[tuple[str, ...]]


def settings(emu: Emulator) -> dict[str, Any]:
    return {"bot_token": TOKEN, "api_url": emu.api_url, "emit_activate_version_messages": True}


def catalog(emu: Emulator) -> dict[str, Any]:
    """The rest of a guild selected (thread_members too)."""
    return select(discover(settings(emu)), SELECTED)


def sync(emu: Emulator, state: dict[str, Any] | None = None) -> TapRun:
    """One run mirroring deletions, the rest of a guild selected (thread_members too)."""
    run = run_tap(settings(emu), catalog=catalog(emu), state=state)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def world_keys(emu: Emulator) -> dict[str, Keys]:
    """The key of every object of the rest of a guild the bot can read now, by stream."""
    threads = {t["id"] for g in emu.world.guilds for t in emu.visible_threads(g["id"])}
    rows = expected(emu.world, threads)
    return {s: {tuple(str(r[k]) for k in KEYS[s]) for r in rows[s]} for s in STREAMS}


def apply(*runs: TapRun) -> MirrorTarget:
    target = MirrorTarget()
    for run in runs:
        target.load(run.messages)
    return target


def assert_mirror(target: MirrorTarget, now: dict[str, Keys], removed: dict[str, Keys]) -> None:
    """Live rows equal the world; exactly the removed ones are marked deleted."""
    for stream in STREAMS:
        assert target.live(stream) == now[stream], stream
        assert target.deleted(stream) == removed.get(stream, set()), stream


def open_event(emu: Emulator, gid: str) -> dict[str, Any]:
    """An event not ended, on no unreadable channel, with at least two users."""
    rest = emu.world.guild_rest
    return next(
        e
        for e in emu.world.scheduled_events[gid]
        if e["status"] not in ENDED
        and e.get("channel_id") not in emu.world.unreadable
        and len(rest.event_users.get(e["id"], [])) >= 2
    )


def busy_thread(emu: Emulator, gid: str, avoid: str = "") -> dict[str, Any]:
    """A thread the bot lists, under 50 members (its count shows a leave), at least two."""
    rest = emu.world.guild_rest
    return next(
        t
        for t in emu.visible_threads(gid)
        if t["id"] != avoid
        and t.get("parent_id") not in emu.world.unreadable
        and 2 <= len(rest.thread_members.get(t["id"], [])) < 50
    )


def someone_not_the_bot(emu: Emulator, members: list[dict[str, Any]]) -> str:
    bot = emu.world.bot_user["id"]
    return next(m["user_id"] for m in members if m["user_id"] != bot)


def test_removals_between_runs_leave_the_target_equal_to_the_world() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        first = sync(emu)
        gid = emu.world.guilds[0]["id"]
        rest = emu.world.guild_rest
        event = open_event(emu, gid)
        thread = busy_thread(emu, gid)
        ban = rest.bans[gid][0]["user"]["id"]
        rsvp = rest.event_users[event["id"]][0]["user"]["id"]
        leaver = someone_not_the_bot(emu, rest.thread_members[thread["id"]])
        removed = {
            "bans": {(gid, ban)},
            "automod_rules": {(rest.automod_rules[gid][0]["id"],)},
            "webhooks": {(rest.webhooks[gid][0]["id"],)},
            "integrations": {(rest.integrations[gid][0]["id"],)},
            "soundboard_sounds": {(rest.sounds[gid][0]["sound_id"],)},
            "scheduled_event_users": {(event["id"], rsvp)},
            "thread_members": {(thread["id"], leaver)},
        }
        for stream in ("automod_rules", "webhooks", "integrations", "soundboard_sounds"):
            ((key,),) = removed[stream]
            remove(emu, stream, gid, key)
        remove(emu, "bans", gid, ban)
        remove(emu, "event_users", gid, rsvp, parent=event["id"])
        remove(emu, "thread_members", gid, leaver, parent=thread["id"])

        second = sync(emu, first.final_state)
        target = apply(first, second)
        assert_mirror(target, world_keys(emu), removed)
        # A tombstone empties the row: only its key, guild and deletion time are left.
        for stream, key_fields in (
            ("scheduled_event_users", ("guild_scheduled_event_id", "user_id")),
            ("thread_members", ("thread_id", "user_id")),
        ):
            (key,) = removed[stream]
            row = target.tables[stream][key]
            assert {k for k, v in row.items() if v is not None} == {
                *key_fields,
                "guild_id",
                "_sdc_deleted_at",
            }
            assert stream not in activations(second)

        # Nothing else changes: a third run marks nothing more deleted.
        third = sync(emu, second.final_state)
        assert [r for s in PARTIAL for r in third.records(s) if r.get("_sdc_deleted_at")] == []
        assert_mirror(target.load(third.messages), world_keys(emu), removed)


def test_the_users_of_a_deleted_event_or_thread_are_marked_deleted() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        first = sync(emu)
        gid = emu.world.guilds[0]["id"]
        rest = emu.world.guild_rest
        event = open_event(emu, gid)
        thread = busy_thread(emu, gid)
        removed = {
            "scheduled_event_users": {
                (event["id"], u["user"]["id"]) for u in rest.event_users[event["id"]]
            },
            "thread_members": {
                (thread["id"], m["user_id"]) for m in rest.thread_members[thread["id"]]
            },
        }
        remove(emu, "scheduled_events", gid, event["id"])
        remove(emu, "threads", gid, thread["id"])

        second = sync(emu, first.final_state)
        assert_mirror(apply(first, second), world_keys(emu), removed)
        kept = [p.get(LISTED_KEY, {}) for p in partitions(second.final_state, PARTIAL)]
        assert not {event["id"], thread["id"]} & {parent for k in kept for parent in k}


def test_a_refused_list_marks_nothing_deleted_and_the_next_run_does() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        first = sync(emu)
        refused_guild, other = (g["id"] for g in emu.world.guilds)
        rest = emu.world.guild_rest
        thread = busy_thread(emu, refused_guild)
        bans = {(gid, rest.bans[gid][0]["user"]["id"]) for gid in (refused_guild, other)}
        leaver = someone_not_the_bot(emu, rest.thread_members[thread["id"]])
        for gid, user_id in bans:
            remove(emu, "bans", gid, user_id)
        remove(emu, "thread_members", refused_guild, leaver, parent=thread["id"])
        # One guild's bans refused (Ban Members lost there); thread members everywhere.
        emu.settings.update(no_ban_members_in={refused_guild}, members_intent=False)

        refused = sync(emu, first.final_state)
        target = apply(first, refused)
        assert "bans" not in activations(refused)
        assert target.deleted("bans") == set(), "the other guild's unban waits too"
        assert target.deleted("thread_members") == set()
        assert listed(refused.final_state) == listed(first.final_state), "kept sets unchanged"

        emu.settings.update(no_ban_members_in=set(), members_intent=True)
        readable = sync(emu, refused.final_state)
        target.load(readable.messages)
        assert target.deleted("bans") == bans
        assert target.deleted("thread_members") == {(thread["id"], leaver)}
        now = world_keys(emu)
        assert target.live("bans") == now["bans"]
        assert target.live("thread_members") == now["thread_members"]


def activations(run: TapRun) -> set[str]:
    return {m["stream"] for m in run.messages if m["type"] == "ACTIVATE_VERSION"}


def removals_of_users(emu: Emulator) -> dict[str, Keys]:
    """An RSVP withdrawn and a thread member gone, in each guild; their keys."""
    removed: dict[str, Keys] = {stream: set() for stream in PARTIAL}
    rest = emu.world.guild_rest
    for guild in emu.world.guilds:
        gid = guild["id"]
        event, thread = open_event(emu, gid), busy_thread(emu, gid)
        rsvp = rest.event_users[event["id"]][-1]["user"]["id"]
        leaver = someone_not_the_bot(emu, rest.thread_members[thread["id"]])
        remove(emu, "event_users", gid, rsvp, parent=event["id"])
        remove(emu, "thread_members", gid, leaver, parent=thread["id"])
        removed["scheduled_event_users"].add((event["id"], rsvp))
        removed["thread_members"].add((thread["id"], leaver))
    return removed


def tombstone_lines(run: TapRun) -> list[int]:
    """Positions (1-based line counts) of the partial streams' tombstones in the output."""
    return [
        number
        for number, line in enumerate(run.output.splitlines(), start=1)
        if '"_sdc_deleted_at":"' in line and any(f'"stream":"{s}"' in line for s in PARTIAL)
    ]


def test_a_run_killed_anywhere_marks_no_live_user_deleted_and_resuming_does() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        first = sync(emu)
        removed = removals_of_users(emu)
        reference = sync(emu, first.final_state)  # reads only: the world is unchanged
        marks = tombstone_lines(reference)
        assert len(marks) == sum(len(keys) for keys in removed.values())
        now = world_keys(emu)
        for lines in sorted({marks[0] - 1, marks[0], marks[-1], marks[-1] + 1}):
            killed = interrupt_tap(
                settings(emu),
                after_lines(lines),
                signal.SIGKILL,
                state=first.final_state,
                catalog=catalog(emu),
            )
            target = apply(first, killed)
            for stream in PARTIAL:
                assert not now[stream] & target.deleted(stream), (lines, stream)
            resumed = sync(emu, killed.final_state or first.final_state)
            target.load(resumed.messages)
            for stream in PARTIAL:
                assert target.live(stream) == now[stream], (lines, stream)
                assert target.deleted(stream) == removed[stream], (lines, stream)


def test_the_kept_user_sets_cost_at_most_12_bytes_per_user() -> None:
    spec = WorldSpec.small(event_users=120, thread_members=60)
    with Emulator(spec, bot_token=TOKEN) as emu:
        run = sync(emu)
        kept = listed(run.final_state)
        users = sum(len(decode_ids(text)) for text in kept.values())
        assert users == sum(len(run.records(stream)) for stream in PARTIAL)
        size = sum(len(text) for text in kept.values())
        assert size / users <= 12, f"{size / users:.1f} bytes per user id"


def partitions(state: dict[str, Any], streams: tuple[str, ...]) -> list[dict[str, Any]]:
    bookmarks = state["bookmarks"]
    return [p for s in streams for p in bookmarks.get(s, {}).get("partitions", [])]


def listed(state: dict[str, Any]) -> dict[str, str]:
    """Every kept user set of the partial streams, by parent id."""
    return {k: v for p in partitions(state, PARTIAL) for k, v in p.get(LISTED_KEY, {}).items()}


def test_a_damaged_kept_set_marks_nothing_and_is_replaced_with_one_warning() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        first = sync(emu)
        removed = removals_of_users(emu)
        state = first.final_state
        events, threads = (partitions(state, (s,)) for s in PARTIAL)
        damaged_event = next(iter(events[0][LISTED_KEY]))
        events[0][LISTED_KEY][damaged_event] = "not packed ids"
        threads[0][LISTED_KEY] = ["not", "a", "map"]

        second = sync(emu, state)
        warnings = [line for line in second.stderr.splitlines() if LISTED_KEY in line]
        assert len(warnings) == 2, warnings
        assert "Traceback" not in second.stderr
        target = apply(first, second)
        now = world_keys(emu)
        for stream in PARTIAL:
            assert not now[stream] & target.deleted(stream), stream
            assert target.deleted(stream) <= removed[stream], stream
        # The damaged sets are rebuilt from this run's complete reads.
        kept = listed(second.final_state)
        assert all(decode_ids(text) for text in kept.values())
        assert damaged_event in kept


def test_threads_not_listed_for_a_gap_keep_their_members() -> None:
    """Manage Threads lost: private archived threads go unlisted, not deleted."""
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        first = sync(emu)
        private = {r["id"] for r in first.records("threads") if r["type"] == 12}
        members = {
            (r["thread_id"], r["user_id"])
            for r in first.records("thread_members")
            if r["thread_id"] in private
        }
        assert members, "the small world has members of private threads"
        emu.settings.update(manage_threads=False)
        second = sync(emu, first.final_state)
        target = apply(first, second)
        assert target.deleted("thread_members") == set()
        assert members <= target.live("thread_members")
        kept = listed(second.final_state)
        assert private & set(kept) == private & set(listed(first.final_state))


def test_without_mirroring_a_deleted_threads_members_are_forgotten_unmarked() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        cfg = {"bot_token": TOKEN, "api_url": emu.api_url}
        cat = catalog(emu)
        first = run_tap(cfg, catalog=cat)
        gid = emu.world.guilds[0]["id"]
        thread = busy_thread(emu, gid)
        remove(emu, "threads", gid, thread["id"])
        second = run_tap(cfg, catalog=cat, state=first.final_state)
        assert second.returncode == 0, second.stderr[-2000:]
        assert not [r for r in second.records("thread_members") if r.get("_sdc_deleted_at")]
        assert thread["id"] not in listed(second.final_state), "the state stays bounded"
