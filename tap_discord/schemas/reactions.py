"""Reactions: the ``message_reactions`` stream, the users behind a message's reactions.

One row per (message, emoji, reaction type): the users who reacted, from
https://discord.com/developers/docs/resources/message#get-reactions (``type`` 0 normal,
1 burst, i.e. super reactions), with the emoji and the count of the message's
``reactions`` entry (https://discord.com/developers/docs/resources/message#reaction-object).
"""

from __future__ import annotations

from tap_discord.schemas.fields import (
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

REACTION_FIELDS: Fields = (
    always("message_id", SNOWFLAKE),
    always(
        "emoji_key",
        STRING,
        description="Added by the tap: the custom emoji's id, or the unicode emoji itself.",
    ),
    always("type", STRING, description="`normal`, or `burst` for super reactions."),
    always("channel_id", SNOWFLAKE),
    # Optional at the top level only because a tombstone (a reaction gone) has none.
    field("emoji_id", SNOWFLAKE, description="Custom emoji id; null for a unicode emoji."),
    field("emoji_name", STRING, description="Unicode emoji, or the custom emoji's name."),
    field("count", INTEGER, description="Users who reacted so (count_details of the message)."),
    field("user_ids", array(SNOWFLAKE), description="Those users, by ascending id."),
    DELETED_AT_PROPERTY,
)

MESSAGE_REACTIONS_KEYS = ("message_id", "emoji_key", "type")
MESSAGE_REACTIONS_SCHEMA = record(REACTION_FIELDS, (GUILD_ID,))
