"""How a guild greets newcomers: onboarding and the welcome screen (one record each).

https://discord.com/developers/docs/resources/guild#guild-onboarding-object
https://discord.com/developers/docs/resources/guild#welcome-screen-object

Onboarding ``mode`` is optional: Discord's own example response leaves it out. The
welcome screen has no id and no ``enabled`` flag; the tap keys it by guild.
"""

from __future__ import annotations

from tap_discord.schemas.common import EMOJI, WELCOME_SCREEN_CHANNEL
from tap_discord.schemas.fields import (
    BOOLEAN,
    GUILD_ID,
    INTEGER,
    SNOWFLAKE,
    STRING,
    Fields,
    always,
    always_nullable,
    array,
    field,
    nested,
    record,
)

#: https://discord.com/developers/docs/resources/guild#guild-onboarding-object-prompt-option-structure
PROMPT_OPTION = nested(
    always("id", SNOWFLAKE),
    always("channel_ids", array(SNOWFLAKE)),
    always("role_ids", array(SNOWFLAKE)),
    field("emoji", EMOJI),
    field("emoji_id", SNOWFLAKE),
    field("emoji_name", STRING),
    field("emoji_animated", BOOLEAN),
    always("title", STRING),
    always_nullable("description", STRING),
)
#: https://discord.com/developers/docs/resources/guild#guild-onboarding-object-onboarding-prompt-structure
PROMPT = nested(
    always("id", SNOWFLAKE),
    always("type", INTEGER),  # 0 multiple choice, 1 dropdown
    always("options", array(PROMPT_OPTION)),
    always("title", STRING),
    always("single_select", BOOLEAN),
    always("required", BOOLEAN),
    always("in_onboarding", BOOLEAN),
)

ONBOARDING_FIELDS: Fields = (
    always("guild_id", SNOWFLAKE),
    always("prompts", array(PROMPT)),
    always("default_channel_ids", array(SNOWFLAKE)),
    always("enabled", BOOLEAN),
    field("mode", INTEGER),  # 0 default, 1 advanced
)
ONBOARDING_KEYS = ("guild_id",)
ONBOARDING_SCHEMA = record(ONBOARDING_FIELDS)

WELCOME_SCREEN_FIELDS: Fields = (
    always_nullable("description", STRING),
    always("welcome_channels", array(WELCOME_SCREEN_CHANNEL)),
)
WELCOME_SCREEN_KEYS = ("guild_id",)
WELCOME_SCREEN_SCHEMA = record(WELCOME_SCREEN_FIELDS, (GUILD_ID,))
