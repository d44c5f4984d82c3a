"""Messages deleted inside `message_lookback`: what the last run saw, and what is gone.

Discord has no REST route for deleted messages: a deleted message is simply absent
from the pages. With `message_lookback` every run re-reads each channel's recent
messages anyway, so the tap remembers, per channel and thread, the ids the last run
saw in the part of the window the next run will re-read; an id of that range the
next run's re-read does not return was deleted meanwhile, and the tap emits a
tombstone for it (`tombstones.py`). No request beyond the re-read.

A channel's window, `SeenWindow`, is exact knowledge: every message that existed in
(`floor`, `ceiling`] when it was read, nothing else. The next run marks gone only ids
inside both that range and what it re-read completely: a channel skipped (403/404) or
left unread keeps its window and gets no tombstone; a wider `message_lookback` than
last time finds nothing before the old `floor`; a run killed before a channel's
tombstones were written keeps the old window (it is replaced only after them), so
the next run finds the same deletions again.

Encoding, kept in the guild's messages partition under `lookback_seen`
(`{"<channel id>": "<text>"}`): the unsigned LEB128 varints of `floor`,
`ceiling - floor` and each id's difference from the one before (the first from
`floor`), zlib-compressed, base64 (URL-safe). Ids are snowflakes, so the
differences of a channel's ids are a few bytes each (bench/README.md measures it).
"""

from __future__ import annotations

import base64
import binascii
import typing as t
import zlib
from collections import deque
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Collection, Iterable

#: Key of the per-channel windows in a guild's messages partition.
WINDOWS_KEY = "lookback_seen"
_SEVEN_BITS = 0x7F
#: Snowflake ids carry their millisecond above 22 bits of worker, process and counter.
_MS_SHIFT = 22


@dataclass(frozen=True)
class SeenWindow:
    """Every message id of one channel that existed in (`floor`, `ceiling`] when read."""

    floor: int
    ceiling: int
    ids: tuple[int, ...]  # ascending, each in (floor, ceiling]

    @classmethod
    def of(cls, seen: Iterable[int], floor: int, ceiling: int) -> SeenWindow:
        """The window of a complete read: the ids seen in (`floor`, `ceiling`]."""
        return cls(floor, ceiling, tuple(sorted(i for i in set(seen) if floor < i <= ceiling)))

    def gone(self, after: int, until: int | None, seen: Collection[int]) -> list[int]:
        """Ids of this window a complete read of (`after`, `until`] did not return."""
        low = max(after, self.floor)
        high = self.ceiling if until is None else min(self.ceiling, until)
        return [i for i in self.ids if low < i <= high and i not in seen]

    def encode(self) -> str:
        """The compact text kept in the state (module docstring)."""
        numbers = [self.floor, self.ceiling - self.floor]
        previous = self.floor
        for value in self.ids:
            numbers.append(value - previous)
            previous = value
        return pack_numbers(numbers)

    @classmethod
    def decode(cls, text: str) -> SeenWindow:
        """The window `encode` wrote; ValueError for anything else."""
        try:
            numbers = unpack_numbers(text)
        except ValueError as exc:
            raise ValueError("not a lookback window") from exc
        if len(numbers) < 2:  # floor and span
            raise ValueError("not a lookback window")
        floor, ceiling = numbers[0], numbers[0] + numbers[1]
        ids = _running_sums(floor, numbers[2:])
        if any(d == 0 for d in numbers[2:]) or (ids and ids[-1] > ceiling):
            raise ValueError("not a lookback window")
        return cls(floor, ceiling, tuple(ids))


def encode_ids(ids: Iterable[int]) -> str:
    """A set of ids as compact text: each id's difference from the one before, packed.

    What a partial stream keeps of a parent's listing (e.g. the users of an event);
    the same encoding as a window's ids, from 0. A snowflake's varint is at most 9
    bytes, base64 adds a third: at most 12 bytes per id, plus about 20 per set (zlib's
    header and base64's padding).
    """
    deltas, previous = [], 0
    for value in sorted(set(ids)):
        deltas.append(value - previous)
        previous = value
    return pack_numbers(deltas)


def decode_ids(text: str) -> set[int]:
    """The ids `encode_ids` wrote; ValueError for anything else."""
    deltas = unpack_numbers(text)
    if any(d == 0 for d in deltas):
        raise ValueError("not a set of ids")
    return set(_running_sums(0, deltas))


def pack_numbers(numbers: Iterable[int]) -> str:
    """Numbers (>= 0) as unsigned LEB128 varints, zlib-compressed, base64 (URL-safe)."""
    raw = bytearray()
    for number in numbers:
        _put_varint(raw, number)
    return base64.urlsafe_b64encode(zlib.compress(bytes(raw), 9)).decode("ascii")


def unpack_numbers(text: str) -> list[int]:
    """The numbers `pack_numbers` wrote; ValueError for anything else."""
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(text.encode("ascii")))
    except (binascii.Error, zlib.error, UnicodeEncodeError) as exc:
        raise ValueError("not packed numbers") from exc
    return _varints(raw)


def _running_sums(start: int, deltas: Iterable[int]) -> list[int]:
    """`start` plus each prefix of `deltas`: the ids the differences encode."""
    out: list[int] = []
    current = start
    for delta in deltas:
        current += delta
        out.append(current)
    return out


def _put_varint(out: bytearray, number: int) -> None:
    """Append `number` (>= 0) as an unsigned LEB128 varint."""
    if number < 0:
        msg = "only ascending ids can be packed"
        raise ValueError(msg)
    while number > _SEVEN_BITS:
        out.append((number & _SEVEN_BITS) | 0x80)
        number >>= 7
    out.append(number)


def _varints(raw: bytes) -> list[int]:
    """The unsigned LEB128 varints of `raw`; ValueError when one is cut off."""
    numbers: list[int] = []
    number = shift = 0
    for byte in raw:
        number |= (byte & _SEVEN_BITS) << shift
        if byte & 0x80:
            shift += 7
            continue
        numbers.append(number)
        number = shift = 0
    if shift:
        raise ValueError("not packed numbers: a varint is cut off")
    return numbers


class WindowRead:
    """The ids of one channel's read that the windows need, and no more.

    Why not every id read: a first sync reads a channel's whole history, and memory
    must not grow with it. Only two ranges matter: the last window's (`previous`), to
    tell what is gone, and the trailing `lookback` of the newest id read so far, which
    the next window is made of. Ids come in ascending order (pages are emitted oldest
    first), so the trailing part is a queue trimmed from its old end.
    """

    def __init__(self, previous: SeenWindow | None, lookback_ms: int) -> None:
        """`lookback_ms`: the window's width (rounded down: a trim never cuts too much)."""
        self.previous = previous
        self.old: set[int] = set()  # ids read inside the previous window's range
        self.recent: deque[int] = deque()  # ids within `lookback` of the newest read
        self._span = (lookback_ms + 1) << _MS_SHIFT

    @property
    def read_any(self) -> bool:
        """Whether the read returned a message at all.

        Without Read Message History Discord answers an empty page, not an error
        (https://discord.com/developers/docs/resources/message#get-channel-messages):
        an empty read proves nothing gone, and the last window is kept instead.
        """
        return bool(self.recent)

    def add(self, message_id: int) -> None:
        """Note an id read (in ascending order)."""
        previous = self.previous
        if previous is not None and previous.floor < message_id <= previous.ceiling:
            self.old.add(message_id)
        recent = self.recent
        recent.append(message_id)
        while recent[0] <= message_id - self._span:
            recent.popleft()

    def gone(self, after: int, until: int | None) -> list[int]:
        """Ids of the previous window this complete read of (`after`, `until`] missed."""
        if self.previous is None:
            return []
        return self.previous.gone(after, until, self.old)

    def next_window(self, floor: int, ceiling: int) -> SeenWindow:
        """The window the next run compares with: what this read saw in (floor, ceiling]."""
        return SeenWindow.of(self.recent, floor, ceiling)
