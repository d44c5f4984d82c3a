"""Guild stickers (docs sticker.mdx "Sticker Structure"): the ``stickers`` stream."""

from __future__ import annotations

from tap_discord.schemas.common import STICKER_FIELDS
from tap_discord.schemas.fields import GUILD_ID, record

STICKERS_KEYS = ("id",)
STICKERS_SCHEMA = record(STICKER_FIELDS, (GUILD_ID,))
