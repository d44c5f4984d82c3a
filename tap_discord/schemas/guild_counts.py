"""Two small guild reads: members per role, and the vanity invite with its use count.

https://discord.com/developers/docs/resources/guild#get-guild-role-member-counts
https://discord.com/developers/docs/resources/guild#get-guild-vanity-url

``GET /guilds/{id}/roles/member-counts`` answers a map ``{role_id: count}`` (without
@everyone); the tap emits one row per role. ``GET /guilds/{id}/vanity-url`` answers a
partial invite ``{code, uses}``: ``code`` is null where the guild has none, and this is
the only place Discord reports ``uses``.
"""

from __future__ import annotations

from tap_discord.schemas.fields import (
    GUILD_ID,
    INTEGER,
    SNOWFLAKE,
    STRING,
    Fields,
    always,
    always_nullable,
    record,
)

ROLE_MEMBER_COUNT_FIELDS: Fields = (
    GUILD_ID,
    always("role_id", SNOWFLAKE),
    always("member_count", INTEGER),
)
ROLE_MEMBER_COUNTS_KEYS = ("guild_id", "role_id")
ROLE_MEMBER_COUNTS_SCHEMA = record(ROLE_MEMBER_COUNT_FIELDS)

VANITY_URL_FIELDS: Fields = (
    always_nullable("code", STRING),
    always("uses", INTEGER),
)
VANITY_URL_KEYS = ("guild_id",)
VANITY_URL_SCHEMA = record(VANITY_URL_FIELDS, (GUILD_ID,))
