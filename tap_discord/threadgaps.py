"""Channels whose archived threads a run could not list, weighed against the target.

The threads stream is read completely only if every channel's archived threads were
listed (`mirror.py`). But a channel the bot has never been able to read has no thread
in the target, and a bot without Manage Threads has never loaded a private archived
thread of a channel where it saw no private thread at all: not listing those hides
no row, and should not hold back every other thread's deletion forever. So the
threads stream keeps, in its guild partition of the state, the channels it ever
emitted a thread of (`any`) and a private thread of (`private`), and a channel it
could not list counts as a gap only if the target may hold threads of it there:

    {"bookmarks": {"threads": {"partitions": [
        {"context": {"guild_id": "G"}, "thread_parents": {"any": ["C", ...], "private": [...]}}
    ]}}}

The lists only grow (one id per channel at most), and a thread's channel is added
before the thread is emitted, so a STATE never under-states them.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

#: Key of the kept channel lists in a guild partition of the threads stream.
PARENTS_KEY = "thread_parents"
#: Thread types: https://discord.com/developers/docs/resources/channel#channel-object-channel-types
PRIVATE_THREAD = 12


@dataclass
class ThreadGaps:
    """The channels of one guild whose archived threads this run did not list."""

    #: (channel id, only its private archived threads, why)
    gaps: list[tuple[str, bool, str]] = field(default_factory=list)

    def add(self, channel_id: str, *, private: bool, reason: str) -> None:
        """Note a channel whose (private, or all) archived threads were not listed."""
        self.gaps.append((channel_id, private, reason))

    def blocking(self, kept: t.Mapping[str, list[str]]) -> str | None:
        """The first gap where the target may hold threads (`kept`); None if none."""
        every, private = set(kept.get("any", ())), set(kept.get("private", ()))
        for channel_id, private_only, reason in self.gaps:
            if channel_id in (private if private_only else every):
                return f"channel {channel_id}: {reason}"
        return None


def kept_parents(partition: dict[str, t.Any]) -> dict[str, list[str]]:
    """The guild partition's channel lists (created empty)."""
    kept = partition.setdefault(PARENTS_KEY, {})
    kept.setdefault("any", [])
    kept.setdefault("private", [])
    return t.cast("dict[str, list[str]]", kept)


def remember_parents(
    kept: dict[str, list[str]], threads: t.Iterable[t.Mapping[str, t.Any]]
) -> None:
    """Add the channels of `threads` to the kept lists (sorted, each once)."""
    every, private = set(kept["any"]), set(kept["private"])
    for thread in threads:
        parent = thread.get("parent_id")
        if parent is None:
            continue
        every.add(str(parent))
        if thread.get("type") == PRIVATE_THREAD:
            private.add(str(parent))
    kept["any"] = sorted(every, key=int)
    kept["private"] = sorted(private, key=int)
