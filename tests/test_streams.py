"""Each stream emits exactly the emulator's ground truth: nothing missing, extra or doubled."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.emulator import Emulator, WorldSpec
from tests.tapharness import TapRun, as_emitted, as_loaded, channel_bookmarks, run_tap

TOKEN = "stream-test-bot-token"


@pytest.fixture(scope="module")
def emu():
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def full_run(emu) -> TapRun:
    run = run_tap({"bot_token": TOKEN, "api_url": emu.api_url})
    assert run.returncode == 0, run.stderr
    return run


def ids(records: list[dict[str, Any]], key: str = "id") -> list[str]:
    return [str(r[key]) for r in records]


def assert_no_duplicates(values: list[Any]) -> None:
    doubled = [v for v, n in Counter(values).items() if n > 1]
    assert not doubled, f"duplicate primary keys: {doubled[:5]}"


def test_guilds(emu, full_run: TapRun) -> None:
    got = full_run.records("guilds")
    assert_no_duplicates(ids(got))
    assert sorted(ids(got)) == sorted(str(g["id"]) for g in emu.world.guilds)
    assert all("approximate_member_count" in g for g in got)


def test_channels(emu, full_run: TapRun) -> None:
    got = full_run.records("channels")
    want = [c for gid in emu.world.channels for c in emu.world.channels[gid]]
    assert_no_duplicates(ids(got))
    assert sorted(ids(got)) == sorted(ids(want))


def test_threads_active_and_archived(emu, full_run: TapRun) -> None:
    got = full_run.records("threads")
    assert_no_duplicates(ids(got))
    want = {str(t["id"]) for gid in emu.world.threads for t in emu.world.threads[gid]}
    assert set(ids(got)) == want
    archived = [t for t in got if t["thread_metadata"]["archived"]]
    assert archived, "the small world has archived threads"


def test_messages_match_what_the_bot_can_see(emu, full_run: TapRun) -> None:
    got = full_run.records("messages")
    assert_no_duplicates(ids(got))
    want = expected_messages(emu)
    assert Counter(ids(got)) == Counter(ids(want))
    by_id = {m["id"]: m for m in got}
    for message in want:
        record = by_id[message["id"]]
        assert record["channel_id"] == message["channel_id"]
        assert record["content"] == message["content"]
        assert record["guild_id"]


def test_rarely_filled_fields_are_kept_in_extras(emu, full_run: TapRun) -> None:
    """Every field Discord sent arrives: the rare ones under `extras`, the rest as is."""
    got = {m["id"]: m for m in full_run.records("messages")}
    with_extras = 0
    for message in expected_messages(emu):
        record = {k: v for k, v in got[message["id"]].items() if k != "guild_id"}
        assert record == as_emitted(message)
        with_extras += "extras" in record
    assert with_extras, "the small world has messages with rarely filled fields"


def test_messages_of_a_channel_are_contiguous_and_oldest_first(full_run: TapRun) -> None:
    seen_channels: list[str] = []
    last: dict[str, int] = {}
    for record in full_run.records("messages"):
        channel = record["channel_id"]
        if not seen_channels or seen_channels[-1] != channel:
            assert channel not in seen_channels, f"channel {channel} split in two runs"
            seen_channels.append(channel)
        assert int(record["id"]) > last.get(channel, -1)
        last[channel] = int(record["id"])


def test_members(emu, full_run: TapRun) -> None:
    got = full_run.records("members")
    keys = [(r["guild_id"], r["user_id"]) for r in got]
    assert_no_duplicates(keys)
    want = {
        (gid, str(m["user"]["id"])) for gid in emu.world.members for m in emu.world.members[gid]
    }
    assert set(keys) == want


def test_invites(emu, full_run: TapRun) -> None:
    got = full_run.records("invites")
    assert_no_duplicates(ids(got, "code"))
    want = {str(i["code"]) for gid in emu.world.invites for i in emu.world.invites[gid]}
    assert set(ids(got, "code")) == want


def test_final_state_has_a_bookmark_per_channel_and_no_progress_markers(
    emu, full_run: TapRun
) -> None:
    state = full_run.final_state
    assert "progress_markers" not in str(state)
    bookmarks = channel_bookmarks(state)
    for channel_id, messages in messages_by_channel(emu).items():
        if messages:
            assert bookmarks[channel_id] == messages[-1]["id"]


def test_token_never_printed(full_run: TapRun) -> None:
    assert TOKEN not in full_run.output


def expected_messages(emu) -> list[dict[str, Any]]:
    return [as_loaded(m) for messages in messages_by_channel(emu).values() for m in messages]


def messages_by_channel(emu) -> dict[str, list[dict[str, Any]]]:
    """What the bot can read, per channel and thread, oldest first."""
    return {cid: emu.visible_messages(cid) for cid in emu.world.messages}


@pytest.mark.parametrize("stream", ["roles", "emojis", "stickers", "scheduled_events"])
def test_guild_lists(emu, full_run: TapRun, stream: str) -> None:
    got = full_run.records(stream)
    assert_no_duplicates(ids(got))
    truth = getattr(emu.world, stream)
    want = {str(item["id"]) for gid in truth for item in truth[gid]}
    assert want, f"the small world has {stream}"
    assert set(ids(got)) == want
    assert all(r["guild_id"] for r in got)


def test_everyone_role_has_the_guild_id(emu, full_run: TapRun) -> None:
    roles = {r["id"] for r in full_run.records("roles")}
    assert {g["id"] for g in emu.world.guilds} <= roles
