"""Deletions: after each complete run the target mirrors what Discord holds now.

Objects are deleted in the emulator between runs; the runs' Singer output is applied
the way target-postgres applies it (`mirrortarget.py`: upsert by key, `ACTIVATE_VERSION`
soft delete, tombstones), and the target's live rows must then equal the emulator's
world, with the deleted ones marked deleted. Runs that cannot read everything (a
missing intent, a guild the bot left, a channel gone 404, SIGTERM, SIGKILL, a fatal
error) must mark nothing deleted that still exists.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tap_discord.seenwindow import WINDOWS_KEY, SeenWindow
from tests.emulator import Emulator, WorldSpec
from tests.emulator.removals import remove
from tests.mirrortarget import MirrorTarget
from tests.tapharness import (
    TapRun,
    after_lines,
    after_records,
    interrupt_tap,
    run_tap,
)
from tests.test_lookback import busiest_channel

TOKEN = "deletions-test-token"
FULL_TABLE = (
    "guilds",
    "channels",
    "threads",
    "members",
    "invites",
    "roles",
    "emojis",
    "stickers",
    "scheduled_events",
)
#: The rest of a guild (one listing per guild each): mirrored the same way.
GUILD_REST = (
    "bans",
    "automod_rules",
    "webhooks",
    "integrations",
    "onboarding",
    "welcome_screen",
    "soundboard_sounds",
    "role_member_counts",
    "vanity_url",
)
LOOKBACK = "P3D"


def config(emu: Emulator, **extra: Any) -> dict[str, Any]:
    return {
        "bot_token": TOKEN,
        "api_url": emu.api_url,
        "emit_activate_version_messages": True,
        "message_lookback": LOOKBACK,
        **extra,
    }


def ok(run: TapRun) -> TapRun:
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def world_keys(emu: Emulator) -> dict[str, set[tuple[str, ...]]]:
    """The key of every object the bot can read now, by stream."""
    world = emu.world
    gids = [g["id"] for g in world.guilds if g["id"] not in emu.settings.left_guilds]
    keys: dict[str, set[tuple[str, ...]]] = {
        "guilds": {(g,) for g in gids},
        "channels": {(c["id"],) for g in gids for c in world.channels[g]},
        "threads": {(c["id"],) for g in gids for c in emu.visible_threads(g)},
        "members": {(g, m["user"]["id"]) for g in gids for m in world.members[g]},
        "invites": {(i["code"],) for g in gids for i in world.invites[g]},
    }
    for stream in ("roles", "emojis", "stickers", "scheduled_events"):
        keys[stream] = {(item["id"],) for g in gids for item in getattr(world, stream)[g]}
    channels = [c for g in gids for c in (*world.channels[g], *world.threads[g])]
    keys["messages"] = {(m["id"],) for c in channels for m in emu.visible_messages(c["id"])}
    return keys


def activations(run: TapRun) -> list[str]:
    return [m["stream"] for m in run.messages if m["type"] == "ACTIVATE_VERSION"]


def tombstones(run: TapRun) -> list[dict[str, Any]]:
    return [r for r in run.records("messages") if r.get("_sdc_deleted_at")]


def recent_messages(emu: Emulator, count: int = 4) -> tuple[str, list[str]]:
    """A busy channel with `count` messages posted now (inside any lookback window)."""
    cid = busiest_channel(emu)
    return cid, [m["id"] for m in emu.add_messages(cid, count)]


def text_channel_with_threads(emu: Emulator, avoid: str) -> dict[str, Any]:
    """A readable text channel of the first guild with threads the bot lists."""
    gid = emu.world.guilds[0]["id"]
    parents = {t.get("parent_id") for t in emu.visible_threads(gid)}
    return next(
        c
        for c in emu.world.channels[gid]
        if c["type"] == 0
        and c["id"] in parents
        and c["id"] != avoid
        and emu.visible_messages(c["id"])
    )


# A complete run after deletions --------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 32])
def test_a_complete_run_marks_exactly_the_deleted_objects_deleted(workers: int) -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        cid, recent = recent_messages(emu)
        cfg = config(emu, max_workers=workers)
        first = ok(run_tap(cfg))
        assert tombstones(first) == [], "a first run has nothing to compare with"
        before = world_keys(emu)

        gid = emu.world.guilds[0]["id"]
        doomed = text_channel_with_threads(emu, avoid=cid)
        doomed_threads = {
            t["id"] for t in emu.visible_threads(gid) if t["parent_id"] == doomed["id"]
        }
        other_thread = next(
            t for t in emu.visible_threads(gid) if t["parent_id"] not in (doomed["id"], cid)
        )
        removed = {
            "members": (gid, emu.world.members[gid][-1]["user"]["id"]),
            "roles": (emu.world.roles[gid][2]["id"],),
            "emojis": (emu.world.emojis[gid][0]["id"],),
            "stickers": (emu.world.stickers[gid][0]["id"],),
            "invites": (emu.world.invites[gid][0]["code"],),
            "scheduled_events": (emu.world.scheduled_events[gid][0]["id"],),
        }
        for stream, key in removed.items():
            remove(emu, stream, gid, key[-1])
        remove(emu, "channels", gid, doomed["id"])
        remove(emu, "threads", gid, other_thread["id"])
        emu.delete_message(cid, recent[1])
        emu.edit_message(cid, recent[2], "edited between runs")
        old = emu.visible_messages(cid)[0]["id"]
        emu.delete_message(cid, old)  # far outside the window: not detected

        second = ok(run_tap(cfg, state=first.final_state))
        target = MirrorTarget().load(first.messages).load(second.messages)
        now = world_keys(emu)

        for stream in FULL_TABLE:
            assert target.live(stream) == now[stream], stream
            assert target.deleted(stream) == before[stream] - now[stream], stream
        for stream, key in removed.items():
            assert key in target.deleted(stream), stream
        assert (doomed["id"],) in target.deleted("channels")
        assert {(t,) for t in (*doomed_threads, other_thread["id"])} <= target.deleted("threads")
        assert target.live("roles") and target.live("members"), "live rows stay live"

        # Messages: the one deleted inside the window is marked, its columns emptied.
        assert target.deleted("messages") == {(recent[1],)}
        row = target.tables["messages"][(recent[1],)]
        assert {k for k, v in row.items() if v is not None} == {
            "id",
            "channel_id",
            "guild_id",
            "_sdc_deleted_at",
        }
        assert target.tables["messages"][(recent[2],)]["content"] == "edited between runs"
        # Not detected (README): older than the window, or in a deleted channel/thread.
        gone_channels = {doomed["id"], *doomed_threads, other_thread["id"]}
        undetected = {
            (r["id"],) for r in first.records("messages") if r["channel_id"] in gone_channels
        } | {(old,)}
        assert target.live("messages") == now["messages"] | undetected


def test_each_activate_version_follows_its_streams_last_record_and_records_carry_it() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        run = ok(run_tap(config(emu)))
        assert sorted(activations(run)) == sorted(FULL_TABLE + GUILD_REST)
        versions = {m["version"] for m in run.messages if m["type"] == "ACTIVATE_VERSION"}
        assert len(versions) == 1
        (version,) = versions
        for stream in FULL_TABLE + GUILD_REST:
            position = next(
                i
                for i, m in enumerate(run.messages)
                if m["type"] == "ACTIVATE_VERSION" and m["stream"] == stream
            )
            records = [
                (i, m)
                for i, m in enumerate(run.messages)
                if m["type"] == "RECORD" and m["stream"] == stream
            ]
            assert records and all(i < position for i, _ in records), stream
            assert {m.get("version") for _, m in records} == {version}, stream
        # Incremental and partial streams carry no version: nothing deletes their rows.
        for stream in ("messages", "audit_log", "audit_log_users"):
            assert {m.get("version") for m in run.messages if m.get("stream") == stream} <= {None}


def test_off_by_default_no_activate_version_and_no_version() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        run = ok(run_tap({"bot_token": TOKEN, "api_url": emu.api_url}))
        assert activations(run) == []
        assert all("version" not in m for m in run.messages if m["type"] == "RECORD")


# Runs that cannot read everything mark nothing deleted ----------------------------------


def second_run_after(emu: Emulator, change: Any, **extra: Any) -> tuple[TapRun, TapRun]:
    """Run 1 (complete), `change(emu)`, run 2 from its state."""
    cfg = config(emu, **extra)
    first = ok(run_tap(cfg))
    change(emu)
    return first, ok(run_tap(cfg, state=first.final_state))


def test_a_missing_members_intent_marks_no_member_deleted() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        gid = emu.world.guilds[0]["id"]
        leaver = emu.world.members[gid][-1]["user"]["id"]

        def change(emu: Emulator) -> None:
            remove(emu, "members", gid, leaver)
            emu.settings.members_intent = False

        first, second = second_run_after(emu, change)
        target = MirrorTarget().load(first.messages).load(second.messages)
        assert "members" not in activations(second)
        assert target.deleted("members") == set()
        assert sorted(activations(second)) == sorted(set(FULL_TABLE + GUILD_REST) - {"members"})
        assert "Not marking deleted rows of members" in second.stderr


def test_a_guild_the_bot_cannot_read_marks_nothing_of_any_guild_deleted() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        gone, other = (g["id"] for g in emu.world.guilds)
        role = emu.world.roles[other][2]["id"]

        def change(emu: Emulator) -> None:
            remove(emu, "roles", other, role)  # a real deletion in the readable guild
            emu.settings.left_guilds = {gone}  # listed, but 404 when read

        first, second = second_run_after(emu, change)
        target = MirrorTarget().load(first.messages).load(second.messages)
        assert activations(second) == []
        for stream in FULL_TABLE:
            assert target.deleted(stream) == set(), stream
        assert "Not marking deleted rows of roles" in second.stderr


def test_a_channel_gone_404_marks_none_of_its_threads_or_messages_deleted() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        cid = text_channel_with_threads(emu, avoid="")["id"]
        recent = [m["id"] for m in emu.add_messages(cid, 4)]

        def change(emu: Emulator) -> None:
            emu.delete_message(cid, recent[1])  # really deleted, but unreadable this run
            emu.settings.vanished_channels.add(cid)  # listed, 404 when read

        first, second = second_run_after(emu, change)
        target = MirrorTarget().load(first.messages).load(second.messages)
        assert "threads" not in activations(second)
        assert "Not marking deleted rows of threads" in second.stderr
        assert target.deleted("threads") == set()
        assert tombstones(second) == []
        assert target.deleted("messages") == set()

        # Readable again: the next run marks the message deleted.
        emu.settings.vanished_channels.discard(cid)
        third = ok(run_tap(config(emu), state=second.final_state))
        target.load(third.messages)
        assert target.deleted("messages") == {(recent[1],)}
        assert "threads" in activations(third)
        assert target.deleted("threads") == set()


def test_include_archived_threads_false_marks_no_thread_deleted() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        first, second = second_run_after(emu, lambda emu: None, include_archived_threads=False)
        target = MirrorTarget().load(first.messages).load(second.messages)
        assert "threads" not in activations(second)
        assert target.deleted("threads") == set()


@pytest.mark.parametrize("records", [5, 300])
def test_a_run_stopped_by_sigterm_marks_nothing_deleted_and_the_next_one_does(
    records: int,
) -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        cid, recent = recent_messages(emu)
        gid = emu.world.guilds[0]["id"]
        cfg = config(emu, max_workers=1)
        first = ok(run_tap(cfg))
        remove(emu, "roles", gid, emu.world.roles[gid][2]["id"])
        emu.delete_message(cid, recent[1])

        stopped = interrupt_tap(cfg, after_records(records), state=first.final_state)
        assert activations(stopped) == []
        target = MirrorTarget().load(first.messages).load(stopped.messages)
        now = world_keys(emu)
        for stream in (*FULL_TABLE, "messages"):
            alive = now[stream] & set(target.tables.get(stream, {}))
            assert not alive & target.deleted(stream), stream

        resumed = ok(run_tap(cfg, state=stopped.final_state or first.final_state))
        target.load(resumed.messages)
        for stream in FULL_TABLE:
            assert target.live(stream) == now[stream], stream
        assert target.deleted("messages") == {(recent[1],)}


@pytest.mark.parametrize("lines", [40, 400, 900])
def test_a_run_killed_at_any_point_marks_nothing_deleted_and_resuming_does(lines: int) -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        cid, recent = recent_messages(emu)
        gid = emu.world.guilds[0]["id"]
        cfg = config(emu)
        first = ok(run_tap(cfg))
        remove(emu, "members", gid, emu.world.members[gid][-1]["user"]["id"])
        emu.delete_message(cid, recent[1])

        killed = interrupt_tap(cfg, after_lines(lines), signal.SIGKILL, state=first.final_state)
        target = MirrorTarget().load(first.messages).load(killed.messages)
        now = world_keys(emu)
        for stream in (*FULL_TABLE, "messages"):
            assert not now[stream] & target.deleted(stream), stream

        state = killed.final_state or first.final_state
        target.load(ok(run_tap(cfg, state=state)).messages)
        for stream in FULL_TABLE:
            assert target.live(stream) == now[stream], stream
        assert target.deleted("messages") == {(recent[1],)}


def test_a_fatal_error_marks_nothing_deleted() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        gid = emu.world.guilds[0]["id"]
        cfg = config(emu)
        first = ok(run_tap(cfg))
        remove(emu, "emojis", gid, emu.world.emojis[gid][0]["id"])
        emu.settings.update(faults={"5xx_json": 0.2}, fault_seed=3)
        failed = run_tap({**cfg, "max_retries": 0}, state=first.final_state)
        assert failed.returncode == 1, failed.stderr[-2000:]
        assert activations(failed) == []
        target = MirrorTarget().load(first.messages).load(failed.messages)
        assert all(target.deleted(stream) == set() for stream in (*FULL_TABLE, "messages"))


# Messages deleted inside the lookback window ----------------------------------------------


def windows(state: dict[str, Any]) -> dict[str, SeenWindow]:
    parts = state["bookmarks"]["messages"]["partitions"]
    return {c: SeenWindow.decode(w) for p in parts for c, w in p.get(WINDOWS_KEY, {}).items()}


def test_every_state_claims_a_window_only_after_the_channels_tombstones() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        cid, recent = recent_messages(emu, 6)
        cfg = config(emu, max_workers=1)
        first = ok(run_tap(cfg))
        for mid in recent[1:4]:
            emu.delete_message(cid, mid)
        second = ok(run_tap(cfg, state=first.final_state))
        assert {t["id"] for t in tombstones(second)} == set(recent[1:4])
        written: set[str] = set()
        for message in second.messages:
            if message["type"] == "RECORD" and message["stream"] == "messages":
                if message["record"].get("_sdc_deleted_at"):
                    written.add(message["record"]["id"])
            elif message["type"] == "STATE":
                kept = windows(message["value"]).get(cid)
                if kept is not None and kept != windows(first.final_state)[cid]:
                    assert written == set(recent[1:4]), "a window moved before its tombstones"
                    assert not set(map(int, recent[1:4])) & set(kept.ids)


def test_changing_the_lookback_never_marks_a_live_message_deleted() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        first = ok(run_tap(config(emu, message_lookback="PT1H")))
        wider = ok(run_tap(config(emu, message_lookback="P60D"), state=first.final_state))
        assert len(wider.records("messages")) > len(first.records("messages")) // 10
        assert tombstones(wider) == []
        narrower = ok(run_tap(config(emu, message_lookback="PT1H"), state=wider.final_state))
        assert tombstones(narrower) == []
        off = ok(run_tap(config(emu, message_lookback=None), state=narrower.final_state))
        assert windows(off.final_state) == {}, "no window kept without lookback"


def test_a_message_deleted_in_a_thread_is_marked_deleted() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        gid = emu.world.guilds[0]["id"]
        thread = next(
            t
            for t in emu.visible_threads(gid)
            if t["type"] == 11 and not t["thread_metadata"]["archived"]
        )
        posted = [m["id"] for m in emu.add_messages(thread["id"], 3)]
        cfg = config(emu)
        first = ok(run_tap(cfg))
        emu.delete_message(thread["id"], posted[0])
        second = ok(run_tap(cfg, state=first.final_state))
        assert [(t["id"], t["channel_id"]) for t in tombstones(second)] == [
            (posted[0], thread["id"])
        ]


def test_the_kept_windows_cost_a_few_bytes_per_message() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        run = ok(run_tap(config(emu, message_lookback="P36500D")))
        kept = windows(run.final_state)
        ids = sum(len(w.ids) for w in kept.values())
        parts = run.final_state["bookmarks"]["messages"]["partitions"]
        text = sum(len(w) for p in parts for w in p[WINDOWS_KEY].values())
        assert ids == len(run.records("messages"))
        assert text / ids < 12, f"{text / ids:.1f} bytes per message id"


def test_losing_manage_threads_marks_no_private_thread_deleted() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        first, second = second_run_after(
            emu, lambda emu: setattr(emu.settings, "manage_threads", False)
        )
        private = {(r["id"],) for r in first.records("threads") if r["type"] == 12}
        assert private, "the small world has private threads"
        target = MirrorTarget().load(first.messages).load(second.messages)
        assert "threads" not in activations(second)
        assert private <= target.live("threads")


def test_a_channel_never_readable_does_not_hold_thread_deletions_back() -> None:
    """The small world has a channel the bot has never been able to read."""
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        assert emu.world.unreadable
        gid = emu.world.guilds[0]["id"]
        thread = next(t for t in emu.visible_threads(gid) if t["type"] == 11)
        first, second = second_run_after(emu, lambda emu: remove(emu, "threads", gid, thread["id"]))
        assert "threads" in activations(second)
        target = MirrorTarget().load(first.messages).load(second.messages)
        assert target.deleted("threads") == {(thread["id"],)}


def test_channel_ids_hides_no_channel_and_guild_ids_drops_a_guild() -> None:
    """README: `channel_ids` restricts messages only; a guild left out is deleted."""
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        first_guild, second_guild = (g["id"] for g in emu.world.guilds)
        cid = busiest_channel(emu)
        restricted = ok(run_tap(config(emu, channel_ids=[cid])))
        target = MirrorTarget().load(restricted.messages)
        assert "channels" in activations(restricted)
        assert target.live("channels") == world_keys(emu)["channels"]

        only_first = ok(run_tap(config(emu, guild_ids=[first_guild]), state=restricted.final_state))
        target.load(only_first.messages)
        assert target.deleted("guilds") == {(second_guild,)}
        second_roles = {(r["id"],) for r in emu.world.roles[second_guild]}
        assert target.deleted("roles") == second_roles


def test_a_channel_that_lost_read_message_history_marks_none_of_its_messages_deleted() -> None:
    """Without Read Message History Discord answers an empty page, not an error: an
    empty re-read looks like every message of the window deleted, and must not."""
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        cid = busiest_channel(emu)
        emu.add_messages(cid, 3)  # inside every run's window

        def change(emu: Emulator) -> None:
            emu.world.no_history.add(cid)

        first, second = second_run_after(emu, change)
        target = MirrorTarget().load(first.messages).load(second.messages)
        assert not target.deleted("messages"), "nothing was deleted"
        windows = {
            p["context"]["guild_id"]: p.get(WINDOWS_KEY, {})
            for p in second.final_state["bookmarks"]["messages"]["partitions"]
        }
        assert any(cid in kept for kept in windows.values()), "the window is kept"

        emu.world.no_history.discard(cid)  # readable again: the kept window still works
        gone = emu.visible_messages(cid)[-1]["id"]
        emu.delete_message(cid, gone)
        third = ok(run_tap(config(emu), state=second.final_state))
        target.load(third.messages)
        assert {key[0] for key in target.deleted("messages")} == {gone}
