"""Streams about the authenticated user or bot itself (`/users/@me/...`).

These are the only routes an OAuth2 Bearer token may call
(docs/discord-behaviour.md#routes-a-bearer-token-may-call), so
they are the whole catalog in OAuth2 mode. Each class names the scopes it needs in
`oauth_scopes`; discovery offers a stream only when the token has them, so a missing
scope never turns into a run of 401s.
"""

from __future__ import annotations

import typing as t

from typing_extensions import override

from tap_discord import schemas
from tap_discord.client import DiscordStream
from tap_discord.pagination import SnowflakeAfterPaginator

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context, Record

GUILD_PAGE_SIZE = 200


class CurrentUserStream(DiscordStream):
    """The token's user (or bot): `GET /users/@me`, one record."""

    name = "current_user"
    path = "/users/@me"
    primary_keys = schemas.CURRENT_USER_KEYS
    schema = schemas.CURRENT_USER_SCHEMA
    mirrors_deletions = True
    records_jsonpath = "$"
    oauth_scopes: t.ClassVar[tuple[str, ...]] = ("identify",)


class UserGuildsStream(DiscordStream):
    """Guilds the token's user (or bot) is in: `GET /users/@me/guilds`, paged by id.

    The bot mode also uses it to find which guilds to read when `guild_ids` is empty.
    """

    name = "user_guilds"
    path = "/users/@me/guilds"
    primary_keys = schemas.USER_GUILDS_KEYS
    schema = schemas.USER_GUILDS_SCHEMA
    mirrors_deletions = True
    oauth_scopes: t.ClassVar[tuple[str, ...]] = ("guilds",)

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Selected by default for OAuth2 users, whose data it is.

        A bot's guilds are read in full by `guilds`, so there this partial list is off
        unless the catalog selects it.
        """
        super().__init__(*args, **kwargs)
        self.selected_by_default = self.discord_tap.settings.auth_mode == "oauth"

    @override
    def get_new_paginator(self) -> SnowflakeAfterPaginator:
        """Ascending by guild id; a short page is the last."""
        return SnowflakeAfterPaginator(None, page_size=GUILD_PAGE_SIZE, id_of=_id)

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        """Full pages, with member counts."""
        return {
            "limit": GUILD_PAGE_SIZE,
            "after": next_page_token or 0,
            "with_counts": "true",
        }

    @override
    def get_child_context(self, record: Record, context: Context | None) -> dict[str, str]:
        """`user_guild_members` is read once per guild."""
        return {"guild_id": str(record["id"])}


class UserConnectionsStream(DiscordStream):
    """Accounts linked to the user (Twitch, GitHub, ...): `GET /users/@me/connections`."""

    name = "user_connections"
    path = "/users/@me/connections"
    primary_keys = schemas.USER_CONNECTIONS_KEYS
    schema = schemas.USER_CONNECTIONS_SCHEMA
    mirrors_deletions = True
    oauth_scopes: t.ClassVar[tuple[str, ...]] = ("connections",)


class UserGuildMembersStream(DiscordStream):
    """The user's member object in each of their guilds (nick, roles, joined_at).

    `GET /users/@me/guilds/{guild_id}/member`, a Bearer-only route that needs the
    `guilds.members.read` scope (and `guilds` to list the guilds first).
    """

    name = "user_guild_members"
    path = "/users/@me/guilds/{guild_id}/member"
    primary_keys = schemas.USER_GUILD_MEMBERS_KEYS
    schema = schemas.USER_GUILD_MEMBERS_SCHEMA
    mirrors_deletions = True
    records_jsonpath = "$"
    parent_stream_type = UserGuildsStream
    oauth_scopes: t.ClassVar[tuple[str, ...]] = ("guilds", "guilds.members.read")

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """One small object per guild, full table: no per-guild state entries."""
        super().__init__(*args, **kwargs)
        self.state_partitioning_keys = []

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        """Tag the member with its guild and user, which the object leaves implicit."""
        if context:
            row.setdefault("guild_id", context["guild_id"])
        user = row.get("user")
        if isinstance(user, dict) and "id" in user:
            row.setdefault("user_id", str(user["id"]))
        return row


def _id(item: dict) -> str:
    """The id of a Discord object."""
    return str(item["id"])
