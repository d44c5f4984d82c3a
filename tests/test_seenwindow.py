"""The lookback window kept per channel: exact, compact, and refused when damaged."""

from __future__ import annotations

import random

import pytest

from tap_discord.seenwindow import SeenWindow

BASE = 1_300_000_000_000_000_000


def test_round_trip_and_range() -> None:
    ids = [BASE + 5, BASE + 9, BASE + 4_000_000]
    window = SeenWindow.of([*ids, BASE - 1, BASE + 10**12], floor=BASE, ceiling=BASE + 4_000_000)
    assert window.ids == tuple(ids)  # outside (floor, ceiling]: not kept
    assert SeenWindow.decode(window.encode()) == window


def test_gone_is_only_what_both_reads_cover() -> None:
    window = SeenWindow(BASE, BASE + 100, (BASE + 10, BASE + 20, BASE + 30, BASE + 100))
    # Re-read from a later cursor: what lies below it is not judged.
    assert window.gone(BASE + 15, None, {BASE + 30}) == [BASE + 20, BASE + 100]
    # A wider re-read than the window: nothing before the window's floor is judged.
    assert window.gone(0, None, set(window.ids)) == []
    # A read that stops at `until` judges nothing above it.
    assert window.gone(BASE, BASE + 25, set()) == [BASE + 10, BASE + 20]


@pytest.mark.parametrize("text", ["", "not base64!", "AAAA", "eJwDAAAAAAE="])
def test_a_damaged_window_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="lookback window"):
        SeenWindow.decode(text)


def test_a_busy_channels_day_costs_a_few_bytes_per_message() -> None:
    """5,000 messages in a day, one every ~17 s on average (ids with random low bits)."""
    r = random.Random(7)
    ms = sorted(r.randrange(86_400_000) for _ in range(5000))
    ids = sorted({BASE + (m << 22) + r.randrange(1 << 22) for m in ms})
    window = SeenWindow.of(ids, BASE, ids[-1])
    per_id = len(window.encode()) / len(ids)
    assert per_id < 8, per_id


def test_a_read_keeps_only_the_windows_ids_however_long_the_history() -> None:
    """A first sync of 200,000 messages keeps the last lookback's ids, not all."""
    from tap_discord.seenwindow import WindowRead

    day_ms = 86_400_000
    previous = SeenWindow(BASE + (10 << 22), BASE + (20 << 22), (BASE + (15 << 22),))
    reading = WindowRead(previous, day_ms)
    ids = [BASE + ((i * 60_000) << 22) for i in range(200_000)]  # one a minute, 139 days
    for message_id in ids:
        reading.add(message_id)
    assert len(reading.recent) <= 1442  # a day of them (and one minute)
    floor = ids[-1] - ((day_ms) << 22) - 1
    assert reading.next_window(floor, ids[-1]).ids == tuple(i for i in ids if i > floor)
    assert reading.gone(0, None) == [BASE + (15 << 22)]
