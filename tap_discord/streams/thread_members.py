"""Who takes part in each thread: one request per thread (and per 100 members).

Not selected by default (`meltano.yml`): a guild can hold thousands of threads. Only
threads with new activity since the run that last read them are read again. How the
tap knows: the guild's SDK partition keeps, per thread, the thread's
`last_message_id` and `member_count` when its members were read in full:

    {"context": {"guild_id": "G"}, "thread_marks": {"<thread id>": "<last message id>/<count>"}}

A new message changes `last_message_id`; a join or leave changes `member_count`
(which Discord stops counting at 50, so past 50 members only a new message tells).
Someone who joins and leaves between two runs, with no message, is not seen. The map
keeps only threads the guild still lists. A member a re-read thread no longer lists,
and every member of a thread gone from the guild's complete thread list, is marked
deleted with a tombstone (`listed_users`: listings.py). Needs the Server Members
privileged intent: the first refusal in a guild skips its other threads (one warning,
one refused request per guild and run).
"""

from __future__ import annotations

import typing as t

from typing_extensions import override

from tap_discord import schemas
from tap_discord.errors import ResourceSkippedError
from tap_discord.listings import KeptListings, tombstones
from tap_discord.pagination import SnowflakeAfterPaginator
from tap_discord.snowflake import is_snowflake
from tap_discord.streams.guilds import GuildChildStream
from tap_discord.tombstones import is_tombstone

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context, Record

THREAD_MEMBER_PAGE_SIZE = 100
#: Key of the per-thread marks in a guild's partition (layout above).
MARKS_KEY = "thread_marks"
FORBIDDEN = 403


class ThreadMembersStream(GuildChildStream):
    """`GET /channels/{thread}/thread-members?with_member=true&limit=100&after=…`.

    Discord pages this list only with `with_member=true`.
    """

    name = "thread_members"
    path = "/channels/{thread_id}/thread-members"
    primary_keys = schemas.THREAD_MEMBERS_KEYS
    schema = schemas.THREAD_MEMBERS_SCHEMA
    selected_by_default = False
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = {
        50001: "Missing Access (50001): thread members need the Server Members "
        "privileged intent; enable it in the Developer Portal (Bot → Privileged Gateway "
        "Intents)",
    }

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """The members of each listed thread whose mark changed since it was read.

        Members a thread no longer lists, and the members of threads gone from the
        guild's complete thread list, get a tombstone (`listings.py`).
        """
        guild_id = str((context or {})["guild_id"])
        state = self.get_context_state(context)
        marks = state[MARKS_KEY] = self.thread_marks(state, guild_id)
        kept = KeptListings(state, self.logger, f"{self.name} of guild {guild_id}")
        shared = self.discord_tap.shared_lists
        listed = shared.threads(guild_id)
        threads = [
            thread
            for thread in listed
            if not {str(thread["id"]), str(thread.get("parent_id"))} & shared.unreadable_channels
        ]
        for thread in threads:
            thread_id, mark = str(thread["id"]), activity_mark(thread)
            if marks.get(thread_id) == mark:
                continue
            target = {"guild_id": guild_id, "thread_id": thread_id}
            seen: set[int] = set()
            try:
                for row in self.request_records(target):
                    row["thread_id"] = thread_id
                    seen.add(int(_member_user_id(row)))
                    yield row
            except ResourceSkippedError as exc:
                self.warn_skipped(exc, target)
                if exc.status == FORBIDDEN:
                    break  # the intent (or access) is missing for the whole guild
                continue
            yield from self.departed(guild_id, thread_id, kept.previous(thread_id) - seen)
            kept.remember(thread_id, seen)  # only now, with its tombstones written
            marks[thread_id] = mark  # every member of it has been emitted by now
        yield from self.members_of_gone_threads(guild_id, kept, listed)
        readable = {str(thread["id"]) for thread in threads}
        for gone in set(marks) - readable:
            del marks[gone]

    def members_of_gone_threads(
        self, guild_id: str, kept: KeptListings, listed: list[dict[str, t.Any]]
    ) -> Iterator[Record]:
        """Tombstones of the members of kept threads the guild's complete list lacks.

        Whether the list is complete is known only where the threads stream weighs its
        gaps (deletions mirrored, threads selected: mirror.py); elsewhere a thread
        missing from it is forgotten unmarked. With a gap, its set waits for a complete run.
        """
        gone = kept.gone_parents({str(thread["id"]) for thread in listed})
        mirror = self.discord_tap.mirror
        threads = self.discord_tap.streams.get("threads")
        if not (mirror.enabled and threads is not None and threads.selected):
            for thread_id in gone:
                kept.forget(thread_id)
            return
        if mirror.first_gap(("threads", "channels", "guilds")) is not None:
            return
        for thread_id in gone:
            yield from self.departed(guild_id, thread_id, kept.previous(thread_id))
            kept.forget(thread_id)

    def departed(self, guild_id: str, thread_id: str, users: set[int]) -> Iterator[Record]:
        """Tombstones of the members who left the thread (or of a deleted thread)."""
        return tombstones(
            users,
            lambda user_id: {"thread_id": thread_id, "user_id": user_id, "guild_id": guild_id},
        )

    def thread_marks(self, state: dict[str, t.Any], guild_id: str) -> dict[str, str]:
        """The kept marks; a damaged map is dropped (one warning): every thread is read."""
        kept = state.get(MARKS_KEY)
        if kept is None:
            return {}
        if isinstance(kept, dict) and all(
            is_snowflake(thread) and isinstance(mark, str) for thread, mark in kept.items()
        ):
            return kept
        self.logger.warning(
            "state: %s.%s of guild %s is not a map of thread id -> mark; reading the "
            "members of every thread again",
            self.name,
            MARKS_KEY,
            guild_id,
        )
        return {}

    @override
    def get_new_paginator(self) -> SnowflakeAfterPaginator:
        """Ascending by user id; a page shorter than 100 is the last."""
        return SnowflakeAfterPaginator(
            None, page_size=THREAD_MEMBER_PAGE_SIZE, id_of=_member_user_id
        )

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        """Full pages with each member's guild member object."""
        return {
            "with_member": "true",
            "limit": THREAD_MEMBER_PAGE_SIZE,
            "after": next_page_token or 0,
        }

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        """Key by (thread, user); Discord may leave `id` and `user_id` out."""
        if is_tombstone(row):
            return row
        row = super().post_process(row, context) or row
        row["user_id"] = _member_user_id(row)
        return row


def activity_mark(thread: dict[str, t.Any]) -> str:
    """What changes when a thread has new activity: its last message and member count."""
    return f"{thread.get('last_message_id') or ''}/{thread.get('member_count', '')}"


def _member_user_id(row: dict) -> str:
    """The thread member's user id (from `member.user` where `user_id` is left out)."""
    user_id = row.get("user_id") or (row.get("member") or {}).get("user", {}).get("id")
    return str(user_id)
