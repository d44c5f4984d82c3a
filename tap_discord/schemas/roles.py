"""Roles: the ``roles`` stream and ``guild.roles``.

https://discord.com/developers/docs/topics/permissions#role-object
"""

from __future__ import annotations

from tap_discord.schemas.common import ROLE_COLORS, ROLE_TAGS
from tap_discord.schemas.fields import (
    BOOLEAN,
    GUILD_ID,
    INTEGER,
    PERMISSIONS,
    SNOWFLAKE,
    STRING,
    Fields,
    always,
    field,
    nested,
    record,
)

ROLE_FIELDS: Fields = (
    always("id", SNOWFLAKE),  # the @everyone role's id is the guild id
    always("name", STRING),
    always("color", INTEGER),  # deprecated in favour of colors.primary_color
    always("colors", ROLE_COLORS),
    always("hoist", BOOLEAN),
    field("icon", STRING),
    field("unicode_emoji", STRING),
    always("position", INTEGER),
    always("permissions", PERMISSIONS),
    always("managed", BOOLEAN),
    always("mentionable", BOOLEAN),
    field("tags", ROLE_TAGS),
    always("flags", INTEGER),
)
ROLE = nested(*ROLE_FIELDS)

ROLES_KEYS = ("id",)
ROLES_SCHEMA = record(ROLE_FIELDS, (GUILD_ID,))
