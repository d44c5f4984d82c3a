"""Deletions in partial streams: who each parent listed last time, and who is gone.

`scheduled_event_users` and `thread_members` re-read only some parents each run
(events not yet ended, threads with new activity), so they cannot mark deletions
with `ACTIVATE_VERSION` (it covers the whole table). Instead the guild's partition
keeps, per parent read completely, the user ids it listed:

    {"listed_users": {"<parent id>": "<ids, seenwindow.encode_ids>"}}

When a parent is read completely again, a user it listed last time that it no
longer lists gets a tombstone (`tombstones.py`), and the kept set is replaced only
after those tombstones. A parent refused (403/404) or not reached (a run killed)
keeps its set: nothing is marked. A parent Discord no longer lists, when the list
of parents was read completely, is gone with its users: each of them gets a
tombstone and the set is dropped. An empty set is not kept (nothing to mark).
Bound: at most 12 bytes per user id plus about 20 per parent (`encode_ids`), for
parents Discord still lists.
"""

from __future__ import annotations

import typing as t

from tap_discord.sdkcontract import utc_now
from tap_discord.seenwindow import decode_ids, encode_ids
from tap_discord.snowflake import is_snowflake
from tap_discord.tombstones import tombstone

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Collection, Iterator

#: Key of the per-parent user sets in a guild's partition (layout above).
LISTED_KEY = "listed_users"


class KeptListings:
    """The user sets one guild's partition keeps, by parent id (edited in place)."""

    def __init__(self, state: dict[str, t.Any], logger: logging.Logger, where: str) -> None:
        """`where`: the stream and guild, for the one warning about damaged state."""
        self._logger = logger
        self._where = where
        kept = state.get(LISTED_KEY)
        if kept is not None and not (
            isinstance(kept, dict)
            and all(is_snowflake(p) and isinstance(v, str) for p, v in kept.items())
        ):
            self._warn_damaged("is not a map of parent id -> ids")
            kept = None
        if kept is None:
            kept = state[LISTED_KEY] = {}
        self.sets: dict[str, str] = kept

    def previous(self, parent_id: str) -> set[int]:
        """The users `parent_id` listed when last read completely (none if never/damaged)."""
        text = self.sets.get(parent_id)
        if text is None:
            return set()
        try:
            return decode_ids(text)
        except ValueError:
            self._warn_damaged(f"entry of {parent_id} is damaged")
            return set()

    def remember(self, parent_id: str, users: Collection[int]) -> None:
        """Keep what a complete read of `parent_id` listed (after its tombstones)."""
        if users:
            self.sets[parent_id] = encode_ids(users)
        else:
            self.sets.pop(parent_id, None)

    def gone_parents(self, listed: Collection[str]) -> list[str]:
        """Kept parents that are not in `listed` (a complete list of the parents)."""
        return [parent for parent in self.sets if parent not in listed]

    def forget(self, parent_id: str) -> None:
        """Drop a parent's set (it is gone, and its users were marked deleted)."""
        self.sets.pop(parent_id, None)

    def _warn_damaged(self, what: str) -> None:
        self._logger.warning(
            "state: %s.%s %s; users gone before this run are not marked deleted there",
            self._where,
            LISTED_KEY,
            what,
        )


def tombstones(
    users: Collection[int], key_of: Callable[[str], dict[str, t.Any]]
) -> Iterator[dict[str, t.Any]]:
    """A tombstone for each user id, keyed by `key_of(user id)`."""
    now = utc_now()
    for user_id in sorted(users):
        yield tombstone(key_of(str(user_id)), now)
