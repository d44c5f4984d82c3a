"""Audit-log entries, and the objects an audit log references.

https://discord.com/developers/docs/resources/audit-log#audit-log-object

``GET /guilds/{id}/audit-logs`` answers ``{audit_log_entries, users, integrations,
webhooks, guild_scheduled_events, threads, application_commands,
auto_moderation_rules}``. The ``audit_log`` stream emits the entries; the referenced
users, webhooks, integrations and threads are streams of their own
(``audit_log_threads`` reuses the thread schema).
"""

from __future__ import annotations

import copy

from singer_sdk import typing as th

from tap_discord.schemas.channels import THREADS_KEYS, THREADS_SCHEMA
from tap_discord.schemas.common import (
    AUDIT_LOG_CHANGE,
    INTEGRATION_ACCOUNT,
    INTEGRATION_FIELDS,
    USER,
    USER_FIELDS,
)
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

#: "Optional audit entry info": every value is a string, numbers included
#: (``count``, ``delete_member_days``, overwrite ``type`` "0"/"1"...); any key Discord
#: adds later is held to the same rule.
AUDIT_LOG_OPTIONS = th.ObjectType(
    field("application_id", SNOWFLAKE),
    field("auto_moderation_rule_name", STRING),
    field("auto_moderation_rule_trigger_type", STRING),
    field("channel_id", SNOWFLAKE),
    field("count", STRING),
    field("delete_member_days", STRING),
    field("id", SNOWFLAKE),
    field("members_removed", STRING),
    field("message_id", SNOWFLAKE),
    field("role_name", STRING),
    field("type", STRING),
    field("integration_type", STRING),
    field("status", STRING),
    additional_properties=th.StringType(),
)

AUDIT_LOG_ENTRY_FIELDS: Fields = (
    always_nullable("target_id", STRING),  # a string, not always a snowflake
    field("changes", array(AUDIT_LOG_CHANGE)),
    always_nullable("user_id", SNOWFLAKE),
    always("id", SNOWFLAKE),
    always("action_type", INTEGER),
    field("options", AUDIT_LOG_OPTIONS),
    field("reason", STRING),
)

AUDIT_LOG_KEYS = ("id",)
AUDIT_LOG_SCHEMA = record(AUDIT_LOG_ENTRY_FIELDS, (GUILD_ID,))

# --- Objects referenced by an audit log ------------------------------------------------

AUDIT_LOG_USERS_KEYS = ("id",)
AUDIT_LOG_USERS_SCHEMA = record(USER_FIELDS)

#: Webhook (https://discord.com/developers/docs/resources/webhook#webhook-object),
#: without ``token`` and ``url``: they are credentials that
#: execute the webhook, which no warehouse should hold. A stream built on this schema
#: must drop them from its records too (a schema alone does not remove keys).
WEBHOOK_FIELDS: Fields = (
    always("id", SNOWFLAKE),
    always("type", INTEGER),  # 1 Incoming, 2 Channel Follower, 3 Application
    field("guild_id", SNOWFLAKE),
    always_nullable("channel_id", SNOWFLAKE),
    field("user", USER),
    always_nullable("name", STRING),
    always_nullable("avatar", STRING),
    always_nullable("application_id", SNOWFLAKE),
    field(
        "source_guild", nested(field("id", SNOWFLAKE), field("name", STRING), field("icon", STRING))
    ),
    field("source_channel", nested(field("id", SNOWFLAKE), field("name", STRING))),
)
AUDIT_LOG_WEBHOOKS_KEYS = ("id",)
AUDIT_LOG_WEBHOOKS_SCHEMA = record(WEBHOOK_FIELDS)

#: The partial integrations of an audit log (docs example: ``id, name, type, account,
#: application_id``): ``enabled`` and ``account`` may be missing there.
AUDIT_LOG_INTEGRATIONS_KEYS = ("id",)
AUDIT_LOG_INTEGRATIONS_SCHEMA = record(
    INTEGRATION_FIELDS,
    (
        always_nullable("name", STRING),  # the spec allows null here
        field("enabled", BOOLEAN),
        field("account", INTEGRATION_ACCOUNT),
        GUILD_ID,
    ),
)

#: Threads an audit log names (created, updated, deleted): the thread object as the
#: ``threads`` stream has it, including threads since deleted that no list shows any more.
AUDIT_LOG_THREADS_KEYS = THREADS_KEYS
AUDIT_LOG_THREADS_SCHEMA = copy.deepcopy(THREADS_SCHEMA)  # its own dict: streams never share one
