"""Guild roles: who can do what, and which members hold them (`members.roles`)."""

from __future__ import annotations

from tap_discord import schemas
from tap_discord.streams.guilds import GuildChildStream


class RolesStream(GuildChildStream):
    """`GET /guilds/{id}/roles`; the `@everyone` role has the guild's id."""

    name = "roles"
    path = "/guilds/{guild_id}/roles"
    primary_keys = schemas.ROLES_KEYS
    schema = schemas.ROLES_SCHEMA
    mirrors_deletions = True
