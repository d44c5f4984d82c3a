"""Guild bans.

https://discord.com/developers/docs/resources/guild#ban-object

``GET /guilds/{id}/bans``. A ban has no id, no timestamp and no moderator of its own
(the audit log's MEMBER_BAN_ADD entries have those); the tap keys it by the guild it
was read from and the banned user's id.
"""

from __future__ import annotations

from tap_discord.schemas.common import USER
from tap_discord.schemas.fields import (
    GUILD_ID,
    STRING,
    Fields,
    added,
    always,
    always_nullable,
    record,
)

BAN_FIELDS: Fields = (
    always_nullable("reason", STRING),
    always("user", USER),
)

BANS_KEYS = ("guild_id", "user_id")
BANS_SCHEMA = record(
    BAN_FIELDS,
    (GUILD_ID, added("user_id", "id of the banned user, copied from user.id")),
)
