"""Guilds: ``GET /guilds/{id}?with_counts=true``.

https://discord.com/developers/docs/resources/guild#guild-object

The full guild, with its ``roles``, ``emojis`` and ``stickers`` arrays and the
approximate counts that ``with_counts`` adds. ``owner`` and ``permissions`` are only
sent by ``/users/@me/guilds`` (see ``users.USER_GUILDS_SCHEMA``).
"""

from __future__ import annotations

from tap_discord.schemas.common import EMOJI, INCIDENTS_DATA, STICKER, WELCOME_SCREEN
from tap_discord.schemas.fields import (
    BOOLEAN,
    INTEGER,
    PERMISSIONS,
    SNOWFLAKE,
    STRING,
    Fields,
    added,
    always,
    always_nullable,
    array,
    field,
    record,
)
from tap_discord.schemas.roles import ROLE

GUILD_FIELDS: Fields = (
    always("id", SNOWFLAKE),
    always("name", STRING),
    always_nullable("icon", STRING),
    field("icon_hash", STRING),
    always_nullable("splash", STRING),
    always_nullable("discovery_splash", STRING),
    field("owner", BOOLEAN),
    always("owner_id", SNOWFLAKE),
    field("permissions", PERMISSIONS),
    field("region", STRING),  # deprecated
    always_nullable("afk_channel_id", SNOWFLAKE),
    always("afk_timeout", INTEGER),
    field("widget_enabled", BOOLEAN),
    field("widget_channel_id", SNOWFLAKE),
    always("verification_level", INTEGER),
    always("default_message_notifications", INTEGER),
    always("explicit_content_filter", INTEGER),
    always("roles", array(ROLE)),
    always("emojis", array(EMOJI)),
    always("features", array(STRING)),
    always("mfa_level", INTEGER),
    always_nullable("application_id", SNOWFLAKE),
    always_nullable("system_channel_id", SNOWFLAKE),
    always("system_channel_flags", INTEGER),
    always_nullable("rules_channel_id", SNOWFLAKE),
    field("max_presences", INTEGER),
    field("max_members", INTEGER),
    always_nullable("vanity_url_code", STRING),
    always_nullable("description", STRING),
    always_nullable("banner", STRING),
    always("premium_tier", INTEGER),
    field("premium_subscription_count", INTEGER),
    always("preferred_locale", STRING),
    always_nullable("public_updates_channel_id", SNOWFLAKE),
    field("max_video_channel_users", INTEGER),
    field("max_stage_video_channel_users", INTEGER),
    field("approximate_member_count", INTEGER),
    field("approximate_presence_count", INTEGER),
    field("welcome_screen", WELCOME_SCREEN),
    always("nsfw_level", INTEGER),
    field("stickers", array(STICKER)),
    always("premium_progress_bar_enabled", BOOLEAN),
    always_nullable("safety_alerts_channel_id", SNOWFLAKE),
    always_nullable("incidents_data", INCIDENTS_DATA),
    # In the spec's GuildResponse only:
    field("home_header", STRING),
    field("nsfw", BOOLEAN),
)

GUILDS_KEYS = ("id",)
#: The stream is partitioned by guild, and the SDK copies the partition context into
#: each record: ``guild_id`` is there, equal to ``id``.
GUILDS_SCHEMA = record(
    GUILD_FIELDS,
    (added("guild_id", "the guild's own id, copied from the stream partition"),),
)
