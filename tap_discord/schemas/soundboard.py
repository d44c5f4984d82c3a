"""A guild's soundboard sounds.

https://discord.com/developers/docs/resources/soundboard#soundboard-sound-object

``GET /guilds/{id}/soundboard-sounds`` answers ``{items: [sound]}``; ``user`` comes only
when the bot has Create or Manage Expressions.
"""

from __future__ import annotations

from tap_discord.schemas.common import USER
from tap_discord.schemas.fields import (
    BOOLEAN,
    GUILD_ID,
    NUMBER,
    SNOWFLAKE,
    STRING,
    Fields,
    always,
    always_nullable,
    field,
    record,
)

SOUND_FIELDS: Fields = (
    always("name", STRING),
    always("sound_id", SNOWFLAKE),
    always("volume", NUMBER),  # 0 to 1
    always_nullable("emoji_id", SNOWFLAKE),
    always_nullable("emoji_name", STRING),
    field("guild_id", SNOWFLAKE),
    always("available", BOOLEAN),  # false once the guild lost the boosts it needs
    field("user", USER),
)

SOUNDBOARD_SOUNDS_KEYS = ("sound_id",)
SOUNDBOARD_SOUNDS_SCHEMA = record(SOUND_FIELDS, (GUILD_ID,))
