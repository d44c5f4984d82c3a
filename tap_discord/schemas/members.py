"""Guild members.

https://discord.com/developers/docs/resources/guild#guild-member-object

Two streams share the shape: ``members`` (``GET /guilds/{id}/members``) and
``user_guild_members`` (``GET /users/@me/guilds/{id}/member``, OAuth2). A member has no
id of its own; the tap keys it by the guild it was read from and its user's id.
"""

from __future__ import annotations

from tap_discord.schemas.common import MEMBER_FIELDS, USER
from tap_discord.schemas.fields import GUILD_ID, added, always, record

#: ``user`` is optional in the member object (MESSAGE_CREATE events leave it out) but
#: always present on both REST routes, and the tap reads ``user_id`` from it.
MEMBER_RECORD_FIELDS = (
    always("user", USER),
    GUILD_ID,
    added("user_id", "id of the member's user, copied from user.id"),
)

MEMBERS_KEYS = ("guild_id", "user_id")
MEMBERS_SCHEMA = record(MEMBER_FIELDS, MEMBER_RECORD_FIELDS)

USER_GUILD_MEMBERS_KEYS = ("guild_id", "user_id")
USER_GUILD_MEMBERS_SCHEMA = record(MEMBER_FIELDS, MEMBER_RECORD_FIELDS)
