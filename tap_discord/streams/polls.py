"""Who voted for what: `GET /channels/{c}/polls/{m}/answers/{answer_id}` per poll answer.

https://discord.com/developers/docs/resources/poll#get-answer-voters: `{users: [...]}`,
up to 100 per page with `after`. One row per (poll message, answer) holds all its
voters, so a re-read replaces the row exactly (a vote taken back vanishes).

What is read, among this run's messages (new ones, and those re-read by
`message_lookback`): a poll whose `results.answer_counts` differ from those the tap
last read, or whose results became final; a finalized poll once, never again. An
answer with no votes costs no request (its row is written empty). Polls come only with
the Message Content intent (https://discord.com/developers/docs/resources/message#message-object):
without it the stream reads nothing and says so once.

State, in the guild's partition: `poll_counts` `{channel id: {message id: {"counts":
{answer id: count}, "final": bool}}}`, the polls last read that the messages stream may
read again: only those the next run's messages read will cover (the lookback window).
At most 10 answers per poll (Discord's cap), about 100 bytes per poll.
"""

from __future__ import annotations

import typing as t

from typing_extensions import override

from tap_discord import schemas
from tap_discord.errors import ResourceSkippedError
from tap_discord.pagination import SnowflakeAfterPaginator
from tap_discord.permissions import needs_history
from tap_discord.responses import response_json
from tap_discord.streams.following import MessageFollowerStream
from tap_discord.streams.reactions import USERS_PAGE_SIZE, keep_window, user_id

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk.helpers.types import Context

    from tap_discord.observed import ChannelSeen, SeenPoll

COUNTS_KEY = "poll_counts"
UNKNOWN_MESSAGE = 10008
Item = dict[str, t.Any]


class PollVotesStream(MessageFollowerStream):
    """The voters of each answer of the polls this run's messages show changed."""

    name = "poll_votes"
    path = "/channels/{channel_id}/polls/{message_id}/answers/{answer_id}"
    primary_keys = schemas.POLL_VOTES_KEYS
    schema = schemas.POLL_VOTES_SCHEMA
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = needs_history("reading poll voters")

    @override
    def get_records(self, context: Context | None) -> Iterable[Item]:
        """Each changed poll's answers, with their voters; tombstones for deleted polls."""
        guild_id = str((context or {})["guild_id"])
        if not self.messages_read(guild_id) or not self.polls_visible():
            return
        (counts,) = self.guild_maps(context, COUNTS_KEY)
        window = self.next_window_start(context)
        for channel_id, seen in self.observations.channels(guild_id).items():
            held: dict[str, t.Any] = counts.get(channel_id, {})
            yield from self.read_channel_polls(guild_id, channel_id, seen, held)
            if held:
                counts[channel_id] = held
            else:
                counts.pop(channel_id, None)
        for channel_id in list(counts):
            keep_window(counts, channel_id, window(channel_id))

    def polls_visible(self) -> bool:
        """False when the Message Content intent is known to be off (said once).

        The messages stream has already warned about the intent itself: one warning
        per missing intent, so this note is at INFO.
        """
        if self.messages_stream.content_check.enabled is not False:
            return True
        if not self._warned_content:
            self._warned_content = True
            self.logger.info(
                "Skipping poll_votes: Discord sends polls only with the Message Content "
                "intent, which is off (Developer Portal → Bot → Message Content Intent)."
            )
        return False

    _warned_content = False

    def read_channel_polls(
        self, guild_id: str, channel_id: str, seen: ChannelSeen, held: dict[str, t.Any]
    ) -> Iterator[Item]:
        """The changed polls of one channel; tombstones for held polls deleted since."""
        where = {"guild_id": guild_id, "channel_id": channel_id}
        for message_id, poll in seen.polls.items():
            before = held.get(message_id)
            if not needs_read(poll, before):
                continue
            try:
                rows = self.read_poll({**where, "message_id": message_id}, poll)
            except ResourceSkippedError as exc:
                if exc.code != UNKNOWN_MESSAGE:
                    self.warn_skipped(exc, {**where, "message_id": message_id})
                continue
            yield from rows
            read = {int(row["answer_id"]): row["count"] for row in rows}
            counts = read if poll.counts is None else poll.counts
            held[message_id] = {
                "counts": {str(answer): count for answer, count in counts.items()},
                "final": poll.finalized,
            }
        for message_id in sorted(held.keys() - seen.polls.keys(), key=int):
            if seen.covers(message_id):  # re-read without its poll: deleted
                for answer in sorted(held.pop(message_id)["counts"], key=int):
                    key = {**where, "message_id": message_id, "answer_id": answer}
                    yield self.tombstone(key)

    def read_poll(self, context: Context, poll: SeenPoll) -> list[Item]:
        """One row per answer: its voters (no request for an answer counted at 0)."""
        rows = []
        for answer_id in poll.answer_ids:
            voters: list[str] = []
            if poll.counts is None or poll.counts.get(answer_id):
                found = self.request_records({**context, "answer_id": answer_id})
                voters = sorted({user_id(user) for user in found}, key=int)
            rows.append(
                {
                    **context,
                    "answer_id": str(answer_id),
                    "count": len(voters),
                    "user_ids": voters,
                    "is_finalized": poll.finalized,
                }
            )
        return rows

    @override
    def get_new_paginator(self) -> SnowflakeAfterPaginator:
        """Forward by user id, 100 per page; a short page is the last."""
        return SnowflakeAfterPaginator(
            None, page_size=USERS_PAGE_SIZE, id_of=user_id, items_of=page_users
        )

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        """100 voters per page, after the previous page's last one."""
        params: dict[str, t.Any] = {"limit": USERS_PAGE_SIZE}
        if next_page_token is not None:
            params["after"] = next_page_token
        return params

    @override
    def parse_response(self, response: requests.Response) -> Iterator[dict]:
        """The page's voters."""
        yield from page_users(response)


def page_users(response: requests.Response) -> list[t.Any]:
    """The `users` of a voters page."""
    body = response_json(response)
    users = body.get("users") if isinstance(body, dict) else None
    return list(users or ())


def needs_read(poll: SeenPoll, before: dict[str, t.Any] | None) -> bool:
    """Whether a poll's voters may differ from what the tap last read of it.

    A finalized poll read once is never read again; otherwise its counts (and its
    finality) are compared, and unknown results are always read.
    """
    if before is None or poll.counts is None:
        return True
    if before.get("final"):
        return False
    last = {int(answer): count for answer, count in before["counts"].items()}
    return last != poll.counts or poll.finalized
