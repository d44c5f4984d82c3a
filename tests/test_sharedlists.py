"""The lists streams share: read once per run, refused ones empty, in a safe stream order."""

from __future__ import annotations

import pytest

from tap_discord.sharedlists import RUNS_BEFORE, order_problems
from tap_discord.streams import BOT_STREAMS, OAUTH_STREAMS
from tap_discord.tap import TapDiscord
from tests.emulator import Emulator, WorldSpec

TOKEN = "shared-lists-test-bot-token"


@pytest.fixture(scope="module")
def emu():
    with Emulator(WorldSpec.small(guilds=1), bot_token=TOKEN) as emulator:
        yield emulator


def test_the_offered_streams_run_in_the_order_the_shared_lists_need() -> None:
    for offered in (BOT_STREAMS, OAUTH_STREAMS):
        assert order_problems(cls.name for cls in offered) == []
    names = [cls.name for cls in BOT_STREAMS]
    assert all(first in names and second in names for first, second in RUNS_BEFORE)


def test_a_wrong_order_is_named() -> None:
    assert order_problems(["threads", "messages"]) == ["messages must run before threads"]


def test_each_list_is_read_once_per_run(emu) -> None:
    tap = TapDiscord(config={"bot_token": TOKEN, "api_url": emu.api_url})
    shared = tap.shared_lists
    assert tap.shared_lists is shared, "one object per run"
    guild_id = shared.guild_ids()[0]
    channels = shared.channels(guild_id)
    threads = shared.threads(guild_id)
    assert channels and threads
    assert [int(c["id"]) for c in channels] == sorted(int(c["id"]) for c in channels)
    before = len(emu.requests)
    assert shared.guild_ids() == [guild_id]
    assert shared.channels(guild_id) is channels
    assert shared.channels_readable(guild_id)
    assert shared.threads(guild_id) is threads
    assert len(emu.requests) == before, "no second request for a list already read"
