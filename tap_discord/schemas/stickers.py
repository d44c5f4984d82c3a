"""Guild stickers: the ``stickers`` stream.

https://discord.com/developers/docs/resources/sticker#sticker-object
"""

from __future__ import annotations

from tap_discord.schemas.common import STICKER_FIELDS
from tap_discord.schemas.fields import GUILD_ID, record

STICKERS_KEYS = ("id",)
STICKERS_SCHEMA = record(STICKER_FIELDS, (GUILD_ID,))
