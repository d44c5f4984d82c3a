"""Auto Moderation rules.

https://discord.com/developers/docs/resources/auto-moderation#auto-moderation-rule-object

``GET /guilds/{id}/auto-moderation/rules`` (Manage Server). Which keys of
``trigger_metadata`` are set depends on ``trigger_type``; each is optional.
"""

from __future__ import annotations

from tap_discord.schemas.fields import (
    BOOLEAN,
    INTEGER,
    SNOWFLAKE,
    STRING,
    Fields,
    always,
    array,
    field,
    nested,
    record,
)

#: https://discord.com/developers/docs/resources/auto-moderation#auto-moderation-rule-object-trigger-metadata
TRIGGER_METADATA = nested(
    field("keyword_filter", array(STRING)),
    field("regex_patterns", array(STRING)),
    field("presets", array(INTEGER)),  # 1 profanity, 2 sexual content, 3 slurs
    field("allow_list", array(STRING)),
    field("mention_total_limit", INTEGER),
    field("mention_raid_protection_enabled", BOOLEAN),
)
#: https://discord.com/developers/docs/resources/auto-moderation#auto-moderation-action-object
ACTION = nested(
    always("type", INTEGER),  # 1 block, 2 alert, 3 timeout, 4 block member interaction
    field(
        "metadata",
        nested(
            field("channel_id", SNOWFLAKE),
            field("duration_seconds", INTEGER),
            field("custom_message", STRING),
        ),
    ),
)

AUTOMOD_RULE_FIELDS: Fields = (
    always("id", SNOWFLAKE),
    always("guild_id", SNOWFLAKE),
    always("name", STRING),
    always("creator_id", SNOWFLAKE),
    always("event_type", INTEGER),  # 1 message send, 2 member update
    always("trigger_type", INTEGER),  # 1 keyword, 3 spam, 4 preset, 5 mention spam, 6 profile
    always("trigger_metadata", TRIGGER_METADATA),
    always("actions", array(ACTION)),
    always("enabled", BOOLEAN),
    always("exempt_roles", array(SNOWFLAKE)),
    always("exempt_channels", array(SNOWFLAKE)),
)

AUTOMOD_RULES_KEYS = ("id",)
AUTOMOD_RULES_SCHEMA = record(AUTOMOD_RULE_FIELDS)
