"""State resumes exactly where the last run stopped: no message lost, none repeated."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests.emulator import Emulator, WorldSpec
from tests.tapharness import channel_bookmarks, run_tap

TOKEN = "incremental-test-token"


def visible_ids(emu: Emulator) -> set[str]:
    return {m["id"] for cid in emu.world.messages for m in emu.visible_messages(cid)}


def message_ids(run) -> list[str]:
    return [r["id"] for r in run.records("messages")]


def readable_channels(emu: Emulator) -> list[str]:
    return [cid for cid in emu.world.messages if emu.visible_messages(cid)]


def test_second_run_emits_only_messages_added_in_between() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url}
        first = run_tap(config)
        assert first.returncode == 0, first.stderr
        assert set(message_ids(first)) == visible_ids(emu)

        targets = readable_channels(emu)[:3]
        added = [m["id"] for cid in targets for m in emu.add_messages(cid, 7)]
        second = run_tap(config, state=first.final_state)
        assert second.returncode == 0, second.stderr
        assert Counter(message_ids(second)) == Counter(added)

        emu.reset_requests()
        third = run_tap(config, state=second.final_state)
        assert third.returncode == 0, third.stderr
        assert message_ids(third) == []
        asked = {r.major for r in emu.requests if r.route == "messages"}
        # Only channels the bot may not read are asked again: history-less ones answer
        # 200 [], hidden ones 403 (their one refusal, unless the thread listing asked
        # first: the two never both ask).
        unreadable = emu.world.no_history | emu.world.unreadable
        assert asked <= unreadable, "unchanged channels cost no message request"


def test_messages_posted_during_a_run_are_never_lost() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url}
        targets = readable_channels(emu)
        posted: list[str] = []
        stop = threading.Event()

        def post() -> None:
            i = 0
            while not stop.is_set():
                posted.extend(m["id"] for m in emu.add_messages(targets[i % len(targets)], 3))
                i += 1
                time.sleep(0.01)

        writer = threading.Thread(target=post)
        writer.start()
        try:
            first = run_tap(config)
        finally:
            stop.set()
            writer.join()
        assert first.returncode == 0, first.stderr
        assert posted, "messages were posted while the tap ran"
        second = run_tap(config, state=first.final_state)
        assert second.returncode == 0, second.stderr
        union = message_ids(first) + message_ids(second)
        assert Counter(union) == Counter(visible_ids(emu)), "a message was lost or doubled"


def test_bookmarks_compare_as_integers_across_the_18_to_19_digit_boundary() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url}
        straddling = [
            cid
            for cid, msgs in emu.world.messages.items()
            if msgs and len(msgs[0]["id"]) == 18 and len(msgs[-1]["id"]) == 19
        ]
        assert straddling, "the small world has a channel crossing the boundary"
        first = run_tap(config)
        bookmarks = channel_bookmarks(first.final_state)
        assert len(bookmarks[straddling[0]]) == 19
        second = run_tap(config, state=first.final_state)
        assert message_ids(second) == []


def test_start_date_skips_older_messages() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url, "start_date": "P30D"}
        run = run_tap(config)
        assert run.returncode == 0, run.stderr
        cutoff = time.time() - 30 * 86400
        want = {
            m["id"]
            for cid in emu.world.messages
            for m in emu.visible_messages(cid)
            if ((int(m["id"]) >> 22) + 1420070400000) / 1000 >= cutoff + 5
        }
        got = set(message_ids(run))
        assert want <= got
        assert all(((int(i) >> 22) + 1420070400000) / 1000 >= cutoff - 5 for i in got)
        assert len(got) < len(visible_ids(emu))


def test_channel_ids_restricts_messages_to_those_channels_and_their_threads() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        guild_id = emu.world.guilds[0]["id"]
        parent = next(t["parent_id"] for t in emu.world.threads[guild_id] if t["type"] == 11)
        config = {"bot_token": TOKEN, "api_url": emu.api_url, "channel_ids": [parent]}
        run = run_tap(config)
        assert run.returncode == 0, run.stderr
        threads = {t["id"] for t in emu.world.threads[guild_id] if t["parent_id"] == parent}
        assert {r["channel_id"] for r in run.records("messages")} == {parent} | threads


def bookmark_errors(run, start: dict[str, str] | None = None) -> list[str]:
    """Every STATE's channel bookmarks against the messages written before it.

    A bookmark must be exactly the newest message of its channel written so far (or
    the bookmark the run started from): one behind, and a kill there repeats that
    message; one ahead, and a kill there loses one.
    """
    newest: dict[str, str] = dict(start or {})
    errors: list[str] = []
    for line, message in enumerate(run.messages):
        if message["type"] == "RECORD" and message["stream"] == "messages":
            record = message["record"]
            channel = record["channel_id"]
            if channel not in newest or int(record["id"]) > int(newest[channel]):
                newest[channel] = record["id"]
        elif message["type"] == "STATE":
            value = message["value"]
            claimed = channel_bookmarks(value) if "messages" in value["bookmarks"] else {}
            if claimed != newest:
                wrong = {
                    c for c in claimed.keys() | newest.keys() if claimed.get(c) != newest.get(c)
                }
                errors.append(f"STATE at line {line}: {len(wrong)} channel(s) off")
    return errors


@pytest.mark.parametrize("workers", [1, 4])
def test_every_state_claims_exactly_the_messages_written_before_it(workers: int) -> None:
    spec = WorldSpec.small(messages_per_channel=[0, 350, 101, 730, 12, 250, 60, 3])
    with Emulator(spec, bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url, "max_workers": workers}
        first = run_tap(config)
        assert first.returncode == 0, first.stderr
        states = first.states
        assert len(states) > 10, "STATE messages mid-stream, not only at the end"
        assert bookmark_errors(first) == []

        # Resumed from a STATE in the middle of the run: exactly the messages written
        # after it, and again every STATE exact (from the bookmarks it started with).
        at = [i for i, m in enumerate(first.messages) if m["type"] == "STATE"]
        middle = at[len(at) // 2]
        state = first.messages[middle]["value"]
        start = channel_bookmarks(state)
        assert start, "the middle STATE holds channel bookmarks"
        after = [
            m["record"]["id"]
            for m in first.messages[middle:]
            if m["type"] == "RECORD" and m["stream"] == "messages"
        ]
        second = run_tap(config, state=state)
        assert second.returncode == 0, second.stderr
        assert message_ids(second) == after
        assert bookmark_errors(second, start) == []
