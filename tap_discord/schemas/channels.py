"""Channels and threads.

https://discord.com/developers/docs/resources/channel#channel-object

Threads are channels of types 10-12 with the thread-only fields set (``thread_metadata``,
``message_count``, ``member_count``, ``total_message_sent``, ``applied_tags``, ``member``);
the two streams share one field list, since every channel field is optional apart from
``id`` and ``type``.
"""

from __future__ import annotations

from tap_discord.schemas.common import (
    DEFAULT_REACTION,
    FORUM_TAG,
    PERMISSION_OVERWRITE,
    THREAD_MEMBER,
    THREAD_METADATA,
    USER,
)
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
    array,
    field,
    nested,
    record,
)

CHANNEL_FIELDS: Fields = (
    always("id", SNOWFLAKE),
    always("type", INTEGER),
    field("guild_id", SNOWFLAKE),
    field("position", INTEGER),
    field("permission_overwrites", array(PERMISSION_OVERWRITE)),
    field("name", STRING),
    field("topic", STRING),
    field("nsfw", BOOLEAN),
    field("last_message_id", SNOWFLAKE),  # may name a deleted message
    field("bitrate", INTEGER),
    field("user_limit", INTEGER),
    field("rate_limit_per_user", INTEGER),
    field("recipients", array(USER)),
    field("icon", STRING),
    field("owner_id", SNOWFLAKE),
    field("application_id", SNOWFLAKE),
    field("managed", BOOLEAN),
    field("parent_id", SNOWFLAKE),
    field("last_pin_timestamp", TIMESTAMP),
    field("rtc_region", STRING),
    field("video_quality_mode", INTEGER),
    field("message_count", INTEGER),
    field("member_count", INTEGER),  # stops counting at 50
    field("thread_metadata", THREAD_METADATA),
    field("member", THREAD_MEMBER),  # the current user's thread membership
    field("default_auto_archive_duration", INTEGER),
    field("permissions", PERMISSIONS),
    field("app_permissions", PERMISSIONS),
    field("flags", INTEGER),
    field("total_message_sent", INTEGER),
    field("available_tags", array(FORUM_TAG)),
    field("applied_tags", array(SNOWFLAKE)),
    field("default_reaction_emoji", DEFAULT_REACTION),
    field("default_thread_rate_limit_per_user", INTEGER),
    field("default_sort_order", INTEGER),
    field("default_forum_layout", INTEGER),
)
#: A channel inside another object (a message's ``thread``, resolved channels).
CHANNEL = nested(*CHANNEL_FIELDS)

CHANNELS_KEYS = ("id",)
CHANNELS_SCHEMA = record(CHANNEL_FIELDS, (GUILD_ID,))

THREADS_KEYS = ("id",)
THREADS_SCHEMA = record(CHANNEL_FIELDS, (GUILD_ID,))
