"""`message_lookback`: recent messages are read again, so their edits reach the target."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from tests.emulator import Emulator, WorldSpec
from tests.tapharness import channel_bookmarks, run_tap

TOKEN = "lookback-test-token"
LOOKBACK = dt.timedelta(days=3)
DISCORD_EPOCH_MS = 1420070400000


def ms(message_id: str) -> int:
    return (int(message_id) >> 22) + DISCORD_EPOCH_MS


def message_requests(emu) -> Counter[str]:
    return Counter(r.major for r in emu.requests if r.route == "messages")


def busiest_channel(emu) -> str:
    """A readable text channel of ordinary messages spread over weeks (not the 2015 one)."""
    spans = {
        cid: ms(msgs[-1]["id"]) - ms(msgs[0]["id"])
        for cid in emu.world.messages
        if len(msgs := emu.visible_messages(cid)) >= 60
    }
    return min((cid for cid, span in spans.items() if span < 90 * 86_400_000), key=spans.get)


@pytest.mark.parametrize("workers", [1, 32])
def test_an_edit_within_the_window_is_re_emitted_and_one_outside_is_not(workers: int) -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url, "max_workers": workers}
        first = run_tap(config)
        assert first.returncode == 0, first.stderr

        cid = busiest_channel(emu)
        messages = emu.visible_messages(cid)
        bookmark_ms = ms(channel_bookmarks(first.final_state)[cid])
        window_ms = LOOKBACK.total_seconds() * 1000
        inside = next(m for m in reversed(messages[:-1]) if ms(m["id"]) < bookmark_ms - 3_600_000)
        assert ms(inside["id"]) > bookmark_ms - window_ms + 3_600_000, "pick a denser channel"
        outside = next(m for m in reversed(messages) if ms(m["id"]) < bookmark_ms - window_ms)
        emu.edit_message(cid, inside["id"], "edited inside the window")
        emu.edit_message(cid, outside["id"], "edited outside the window")

        second = run_tap({**config, "message_lookback": "P3D"}, state=first.final_state)
        assert second.returncode == 0, second.stderr
        by_id = {r["id"]: r for r in second.records("messages")}
        assert by_id[inside["id"]]["content"] == "edited inside the window"
        assert by_id[inside["id"]]["edited_timestamp"]
        assert outside["id"] not in by_id
        before = channel_bookmarks(first.final_state)
        assert channel_bookmarks(second.final_state) == before, "bookmarks never go back"
        for record in second.records("messages"):
            bookmark = int(before[record["channel_id"]])
            assert ms(str(bookmark)) - window_ms - 1 <= ms(record["id"]) <= ms(str(bookmark))


def test_lookback_cost_is_one_request_per_bookmarked_channel_plus_full_pages() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url}
        cid = busiest_channel(emu)
        burst = emu.add_messages(cid, 250)  # all within the last seconds
        first = run_tap(config)
        assert first.returncode == 0, first.stderr
        bookmarked = set(channel_bookmarks(first.final_state))

        emu.reset_requests()
        plain = run_tap(config, state=first.final_state)
        assert plain.returncode == 0, plain.stderr
        assert plain.records("messages") == []
        unreadable = emu.world.no_history | emu.world.unreadable  # asked each run, once
        assert set(message_requests(emu)) <= unreadable, "unchanged: no request"

        emu.reset_requests()
        lookback = run_tap({**config, "message_lookback": "PT1H"}, state=first.final_state)
        assert lookback.returncode == 0, lookback.stderr
        requests = message_requests(emu)
        reread = Counter(r["channel_id"] for r in lookback.records("messages"))
        assert reread[cid] >= len(burst)
        # A page of 100 may have a successor: n messages in the window cost n // 100 + 1.
        assert requests[cid] == reread[cid] // 100 + 1 == 3
        others = bookmarked - {cid}
        assert all(requests[c] == reread[c] // 100 + 1 for c in others)
        assert set(requests) - unreadable == bookmarked
        assert channel_bookmarks(lookback.final_state) == channel_bookmarks(first.final_state)


def test_lookback_never_reads_before_start_date() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url, "start_date": "P2D"}
        first = run_tap(config)
        assert first.returncode == 0, first.stderr
        second = run_tap({**config, "message_lookback": "P30D"}, state=first.final_state)
        assert second.returncode == 0, second.stderr
        oldest_first = min(ms(r["id"]) for r in first.records("messages"))
        assert all(ms(r["id"]) >= oldest_first - 1000 for r in second.records("messages"))
