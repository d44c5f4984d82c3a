"""Pins: the ``pins`` stream, one row per pinned message of a channel or thread.

https://discord.com/developers/docs/resources/message#get-channel-pins (the
``{pinned_at, message}`` items of the paginated route); the message itself is in the
``messages`` stream.
"""

from __future__ import annotations

from tap_discord.schemas.fields import GUILD_ID, SNOWFLAKE, TIMESTAMP, Fields, always, field, record
from tap_discord.tombstones import DELETED_AT_PROPERTY

PIN_FIELDS: Fields = (
    always("channel_id", SNOWFLAKE),
    always("message_id", SNOWFLAKE),
    # Optional at the top level only because a tombstone (an unpinned message) has none.
    field("pinned_at", TIMESTAMP, description="When the message was pinned."),
    DELETED_AT_PROPERTY,
)

PINS_KEYS = ("channel_id", "message_id")
PINS_SCHEMA = record(PIN_FIELDS, (GUILD_ID,))
