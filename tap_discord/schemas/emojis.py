"""Guild emojis: the ``emojis`` stream.

https://discord.com/developers/docs/resources/emoji#emoji-object
"""

from __future__ import annotations

from tap_discord.schemas.common import EMOJI_FIELDS
from tap_discord.schemas.fields import GUILD_ID, SNOWFLAKE, always, record

EMOJIS_KEYS = ("id",)
#: A guild's custom emojis always have an id (it is null only for unicode emojis in
#: reactions). ``user`` needs the Create/Manage Expressions permission.
EMOJIS_SCHEMA = record(EMOJI_FIELDS, (always("id", SNOWFLAKE), GUILD_ID))
