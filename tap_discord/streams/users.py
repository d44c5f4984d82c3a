"""Streams about the authenticated user or bot itself (`/users/@me/...`)."""

from __future__ import annotations

import typing as t

from tap_discord import schemas
from tap_discord.client import DiscordStream
from tap_discord.pagination import SnowflakeAfterPaginator

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

GUILD_PAGE_SIZE = 200


class UserGuildsStream(DiscordStream):
    """Guilds the token's user (or bot) is in: `GET /users/@me/guilds`, paged by id.

    The bot mode also uses it to find which guilds to read when `guild_ids` is empty.
    """

    name = "user_guilds"
    path = "/users/@me/guilds"
    primary_keys = ("id",)
    schema = schemas.USER_GUILDS_SCHEMA
    # A bot's guilds are read in full by `guilds`; this partial list is for OAuth users.
    selected_by_default = False

    def get_new_paginator(self) -> SnowflakeAfterPaginator:
        """Ascending by guild id; a short page is the last."""
        return SnowflakeAfterPaginator(None, page_size=GUILD_PAGE_SIZE, id_of=_id)

    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        """Full pages, with member counts."""
        return {
            "limit": GUILD_PAGE_SIZE,
            "after": next_page_token or 0,
            "with_counts": "true",
        }


def _id(item: dict) -> str:
    """The id of a Discord object."""
    return str(item["id"])
