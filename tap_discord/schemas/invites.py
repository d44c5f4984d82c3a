"""Invites, with their metadata.

https://discord.com/developers/docs/resources/invite#invite-object and
https://discord.com/developers/docs/resources/invite#invite-metadata-object

``GET /guilds/{id}/invites``. Invites have no id: the key is ``code``. The metadata
fields (``uses, max_uses, max_age, temporary, created_at``) come only when the bot has
Manage Server (guild list) or Manage Channels (channel list), so they are optional.
"""

from __future__ import annotations

from tap_discord.schemas.common import PARTIAL_APPLICATION, ROLE_COLORS, USER
from tap_discord.schemas.fields import (
    BOOLEAN,
    GUILD_ID,
    INTEGER,
    PERMISSIONS,
    SNOWFLAKE,
    STRING,
    TIMESTAMP,
    Fields,
    always,
    always_nullable,
    array,
    field,
    nested,
    record,
)
from tap_discord.schemas.scheduled_events import SCHEDULED_EVENT

#: The partial guild of an invite (the spec's ``InviteGuildResponse``).
INVITE_GUILD = nested(
    always("id", SNOWFLAKE),
    always("name", STRING),
    always_nullable("splash", STRING),
    always_nullable("banner", STRING),
    always_nullable("description", STRING),
    always_nullable("icon", STRING),
    always("features", array(STRING)),
    always_nullable("verification_level", INTEGER),
    always_nullable("vanity_url_code", STRING),
    always_nullable("nsfw_level", INTEGER),
    always_nullable("nsfw", BOOLEAN),
    always("premium_subscription_count", INTEGER),
)
#: The partial channel of an invite: ``{id, name, type}`` (group DMs add icon, recipients).
INVITE_CHANNEL = nested(
    always("id", SNOWFLAKE),
    always_nullable("name", STRING),
    always("type", INTEGER),
    field("icon", STRING),
    field("recipients", array(USER)),
)
#: Roles granted on accept: a partial role (``id, name, position, color, colors, icon,
#: unicode_emoji``; the spec adds ``permissions``).
INVITE_ROLE = nested(
    always("id", SNOWFLAKE),
    always("name", STRING),
    always("position", INTEGER),
    always("color", INTEGER),
    always("colors", ROLE_COLORS),
    always_nullable("icon", STRING),
    always_nullable("unicode_emoji", STRING),
    field("permissions", PERMISSIONS),
)

INVITE_FIELDS: Fields = (
    always("type", INTEGER),  # 0 GUILD, 1 GROUP_DM, 2 FRIEND
    always("code", STRING),
    field("guild", INVITE_GUILD),
    always_nullable("channel", INVITE_CHANNEL),
    field("inviter", USER),
    field("target_type", INTEGER),  # 1 STREAM, 2 EMBEDDED_APPLICATION
    field("target_user", USER),
    field("target_application", PARTIAL_APPLICATION),
    field("approximate_presence_count", INTEGER),
    field("approximate_member_count", INTEGER),
    always_nullable("expires_at", TIMESTAMP),  # null = never expires
    field("guild_scheduled_event", SCHEDULED_EVENT),
    field("flags", INTEGER),
    field("roles", array(INVITE_ROLE)),
)
#: Present only with Manage Server / Manage Channels.
INVITE_METADATA_FIELDS: Fields = (
    field("uses", INTEGER),
    field("max_uses", INTEGER),  # 0 = unlimited
    field("max_age", INTEGER),  # seconds, 0 = never expires
    field("temporary", BOOLEAN),
    field("created_at", TIMESTAMP),
)
#: In the spec's ``GuildInviteResponse`` only.
INVITE_SPEC_FIELDS: Fields = (
    field("is_contact", BOOLEAN),
    field("target_channel_id", SNOWFLAKE),
    field("target_message_id", SNOWFLAKE),
    field("liveliness", nested()),
    field("is_nickname_changeable", BOOLEAN),
)

INVITES_KEYS = ("code",)
INVITES_SCHEMA = record(INVITE_FIELDS, INVITE_METADATA_FIELDS, INVITE_SPEC_FIELDS, (GUILD_ID,))
