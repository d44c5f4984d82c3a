"""Custom emojis and stickers of a guild."""

from __future__ import annotations

from tap_discord import schemas
from tap_discord.streams.guilds import GuildChildStream


class EmojisStream(GuildChildStream):
    """`GET /guilds/{id}/emojis` (`user` only with Create/Manage Expressions)."""

    name = "emojis"
    path = "/guilds/{guild_id}/emojis"
    primary_keys = schemas.EMOJIS_KEYS
    schema = schemas.EMOJIS_SCHEMA
    mirrors_deletions = True


class StickersStream(GuildChildStream):
    """`GET /guilds/{id}/stickers`."""

    name = "stickers"
    path = "/guilds/{guild_id}/stickers"
    primary_keys = schemas.STICKERS_KEYS
    schema = schemas.STICKERS_SCHEMA
    mirrors_deletions = True
