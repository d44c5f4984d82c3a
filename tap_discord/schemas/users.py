"""Streams about the authenticated user: the routes an OAuth2 Bearer token may call.

See docs/discord-behaviour.md#routes-a-bearer-token-may-call; the objects are on
https://discord.com/developers/docs/resources/user.

* ``current_user``: ``GET /users/@me``; ``email`` and ``verified`` need the ``email``
  scope, and ``premium_type`` reads 0 without the partner-only ``identify.premium``.
* ``user_guilds``: ``GET /users/@me/guilds?with_counts=true``, partial guilds.
* ``user_connections``: ``GET /users/@me/connections``.

``user_guild_members`` shares the member shape: see ``members.py``.
"""

from __future__ import annotations

from tap_discord.schemas.common import INTEGRATION, USER_FIELDS
from tap_discord.schemas.fields import (
    BOOLEAN,
    INTEGER,
    PERMISSIONS,
    SNOWFLAKE,
    STRING,
    Fields,
    always,
    always_nullable,
    array,
    field,
    record,
)

CURRENT_USER_KEYS = ("id",)
CURRENT_USER_SCHEMA = record(USER_FIELDS)

#: The partial guild of ``/users/@me/guilds`` (the spec's ``MyGuildResponse``).
USER_GUILD_FIELDS: Fields = (
    always("id", SNOWFLAKE),
    always("name", STRING),
    always_nullable("icon", STRING),
    always_nullable("banner", STRING),
    always("owner", BOOLEAN),  # whether the user owns the guild
    always("permissions", PERMISSIONS),  # the user's total permissions in the guild
    always("features", array(STRING)),
    field("approximate_member_count", INTEGER),  # with with_counts=true
    field("approximate_presence_count", INTEGER),
)
USER_GUILDS_KEYS = ("id",)
USER_GUILDS_SCHEMA = record(USER_GUILD_FIELDS)

#: Connection (docs "Connection Structure"). ``id`` is the account id on the other
#: service, so it is unique only together with ``type`` (the service).
CONNECTION_FIELDS: Fields = (
    always("id", STRING),
    always_nullable("name", STRING),  # the spec allows null
    always("type", STRING),  # twitch, youtube, github, steam...
    field("revoked", BOOLEAN),
    field("integrations", array(INTEGRATION)),  # partial server integrations
    always("verified", BOOLEAN),
    always("friend_sync", BOOLEAN),
    always("show_activity", BOOLEAN),
    always("two_way_link", BOOLEAN),
    always("visibility", INTEGER),  # 0 only the user, 1 everyone
)
USER_CONNECTIONS_KEYS = ("type", "id")
USER_CONNECTIONS_SCHEMA = record(CONNECTION_FIELDS)
