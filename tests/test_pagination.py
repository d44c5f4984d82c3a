"""Paging edges cost exactly the requests they need and lose nothing."""

from __future__ import annotations

from collections import Counter

from tests.emulator import Emulator, WorldSpec
from tests.tapharness import run_tap

TOKEN = "pagination-test-token"


def test_message_page_edges() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        run = run_tap({"bot_token": TOKEN, "api_url": emu.api_url})
        assert run.returncode == 0, run.stderr
        asked = Counter(r.major for r in emu.requests if r.route == "messages")
        emitted = Counter(r["channel_id"] for r in run.records("messages"))
        by_size: dict[int, list[str]] = {}
        for guild in emu.world.guilds:
            for channel in emu.world.channels[guild["id"]]:
                if channel["type"] == 0 and channel["id"] not in emu.world.unreadable:
                    size = len(emu.world.messages.get(channel["id"], []))
                    by_size.setdefault(size, []).append(channel["id"])
        for channel_id in by_size[0]:
            assert asked[channel_id] == 0, "an empty channel costs no request"
        for channel_id in by_size[100]:
            # A full page reaching the channel's last_message_id is the last one.
            assert asked[channel_id] == 1
            assert emitted[channel_id] == 100
        for channel_id in by_size[101]:
            assert asked[channel_id] == 2, "100 + 1: the short page ends it"
            assert emitted[channel_id] == 101
        for channel_id in emu.world.no_history:
            assert emitted[channel_id] == 0
            assert asked[channel_id] <= 1, "Discord answers 200 [] without Read Message History"


def test_members_page_by_1000_after_the_last_user_id() -> None:
    with Emulator(WorldSpec.small(guilds=1, members=2345), bot_token=TOKEN) as emu:
        run = run_tap({"bot_token": TOKEN, "api_url": emu.api_url})
        assert run.returncode == 0, run.stderr
        got = [r["user_id"] for r in run.records("members")]
        guild_id = emu.world.guilds[0]["id"]
        assert Counter(got) == Counter(m["user"]["id"] for m in emu.world.members[guild_id])
        assert sum(r.route == "members" for r in emu.requests) == 3
