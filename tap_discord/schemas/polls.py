"""Poll votes: the ``poll_votes`` stream, the voters of each answer of a poll.

One row per (poll message, answer): the users who voted for it, from
https://discord.com/developers/docs/resources/poll#get-answer-voters, with the
answer's count and the poll's state from the message's ``poll.results``
(https://discord.com/developers/docs/resources/poll#poll-results-object).
"""

from __future__ import annotations

from tap_discord.schemas.fields import (
    BOOLEAN,
    GUILD_ID,
    INTEGER,
    SNOWFLAKE,
    STRING,
    Fields,
    always,
    array,
    field,
    record,
)
from tap_discord.tombstones import DELETED_AT_PROPERTY

POLL_VOTE_FIELDS: Fields = (
    always("message_id", SNOWFLAKE),
    # Discord's answer_id is a small integer; as text here, like every key of the tap.
    always("answer_id", STRING, description="The poll answer's `answer_id`, as text."),
    always("channel_id", SNOWFLAKE),
    # Optional at the top level only because a tombstone (an answer gone) has none.
    field("count", INTEGER, description="Voters read for this answer."),
    field("user_ids", array(SNOWFLAKE), description="Those users, by ascending id."),
    field("is_finalized", BOOLEAN, description="Whether the poll's results were final."),
    DELETED_AT_PROPERTY,
)

POLL_VOTES_KEYS = ("message_id", "answer_id")
POLL_VOTES_SCHEMA = record(POLL_VOTE_FIELDS, (GUILD_ID,))
