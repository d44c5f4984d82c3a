"""JSON schemas of every stream, written with ``singer_sdk.typing`` from Discord's docs.

One module per resource; ``common`` holds the objects shared between resources and
``fields`` the primitive types and presence rules (read its docstring first). Each
stream has a ``<NAME>_SCHEMA`` dict and, next to it, its key tuple ``<NAME>_KEYS``;
``STREAM_SCHEMAS`` and ``PRIMARY_KEYS`` index both by stream name.

Conventions, from Discord's reference (https://discord.com/developers/docs/reference#snowflakes,
https://discord.com/developers/docs/reference#nullable-and-optional-resource-fields) and
the object tables each schema module links:

* ids, snowflakes and permission bitsets are strings; timestamps are ``date-time``
  strings; counts, enums, flags and colors are unbounded integers (BIGINT in
  target-postgres, a type no later widening can contradict);
* ``name?`` fields may be absent, ``?type`` fields may be null, key properties are
  required and non-null;
* fields whose type genuinely varies carry no type: audit-log ``old_value`` and
  ``new_value``; a message ``nonce`` is ``integer`` or ``string``; message
  ``components`` are open objects.

Records must already match these schemas as Discord sends them (plus the ids the tap
adds), so the tap can turn off the SDK's type conformance.
"""

from __future__ import annotations

import typing as t

from tap_discord.schemas.audit_log import (
    AUDIT_LOG_INTEGRATIONS_KEYS,
    AUDIT_LOG_INTEGRATIONS_SCHEMA,
    AUDIT_LOG_KEYS,
    AUDIT_LOG_SCHEMA,
    AUDIT_LOG_THREADS_KEYS,
    AUDIT_LOG_THREADS_SCHEMA,
    AUDIT_LOG_USERS_KEYS,
    AUDIT_LOG_USERS_SCHEMA,
    AUDIT_LOG_WEBHOOKS_KEYS,
    AUDIT_LOG_WEBHOOKS_SCHEMA,
)
from tap_discord.schemas.auto_moderation import AUTOMOD_RULES_KEYS, AUTOMOD_RULES_SCHEMA
from tap_discord.schemas.bans import BANS_KEYS, BANS_SCHEMA
from tap_discord.schemas.channels import (
    CHANNELS_KEYS,
    CHANNELS_SCHEMA,
    THREADS_KEYS,
    THREADS_SCHEMA,
)
from tap_discord.schemas.emojis import EMOJIS_KEYS, EMOJIS_SCHEMA
from tap_discord.schemas.guild_counts import (
    ROLE_MEMBER_COUNTS_KEYS,
    ROLE_MEMBER_COUNTS_SCHEMA,
    VANITY_URL_KEYS,
    VANITY_URL_SCHEMA,
)
from tap_discord.schemas.guilds import GUILDS_KEYS, GUILDS_SCHEMA
from tap_discord.schemas.integrations import INTEGRATIONS_KEYS, INTEGRATIONS_SCHEMA
from tap_discord.schemas.invites import INVITES_KEYS, INVITES_SCHEMA
from tap_discord.schemas.members import (
    MEMBERS_KEYS,
    MEMBERS_SCHEMA,
    USER_GUILD_MEMBERS_KEYS,
    USER_GUILD_MEMBERS_SCHEMA,
)
from tap_discord.schemas.messages import MESSAGES_KEYS, MESSAGES_SCHEMA
from tap_discord.schemas.onboarding import (
    ONBOARDING_KEYS,
    ONBOARDING_SCHEMA,
    WELCOME_SCREEN_KEYS,
    WELCOME_SCREEN_SCHEMA,
)
from tap_discord.schemas.pins import PINS_KEYS, PINS_SCHEMA
from tap_discord.schemas.polls import POLL_VOTES_KEYS, POLL_VOTES_SCHEMA
from tap_discord.schemas.reactions import MESSAGE_REACTIONS_KEYS, MESSAGE_REACTIONS_SCHEMA
from tap_discord.schemas.roles import ROLES_KEYS, ROLES_SCHEMA
from tap_discord.schemas.scheduled_event_users import (
    SCHEDULED_EVENT_USERS_KEYS,
    SCHEDULED_EVENT_USERS_SCHEMA,
)
from tap_discord.schemas.scheduled_events import (
    SCHEDULED_EVENTS_KEYS,
    SCHEDULED_EVENTS_SCHEMA,
)
from tap_discord.schemas.soundboard import SOUNDBOARD_SOUNDS_KEYS, SOUNDBOARD_SOUNDS_SCHEMA
from tap_discord.schemas.stickers import STICKERS_KEYS, STICKERS_SCHEMA
from tap_discord.schemas.thread_members import THREAD_MEMBERS_KEYS, THREAD_MEMBERS_SCHEMA
from tap_discord.schemas.users import (
    CURRENT_USER_KEYS,
    CURRENT_USER_SCHEMA,
    USER_CONNECTIONS_KEYS,
    USER_CONNECTIONS_SCHEMA,
    USER_GUILDS_KEYS,
    USER_GUILDS_SCHEMA,
)
from tap_discord.schemas.webhooks import WEBHOOKS_KEYS, WEBHOOKS_SCHEMA

#: Stream name → (record schema, key properties).
STREAMS: dict[str, tuple[dict[str, t.Any], tuple[str, ...]]] = {
    "guilds": (GUILDS_SCHEMA, GUILDS_KEYS),
    "channels": (CHANNELS_SCHEMA, CHANNELS_KEYS),
    "threads": (THREADS_SCHEMA, THREADS_KEYS),
    "messages": (MESSAGES_SCHEMA, MESSAGES_KEYS),
    "members": (MEMBERS_SCHEMA, MEMBERS_KEYS),
    "invites": (INVITES_SCHEMA, INVITES_KEYS),
    "roles": (ROLES_SCHEMA, ROLES_KEYS),
    "emojis": (EMOJIS_SCHEMA, EMOJIS_KEYS),
    "stickers": (STICKERS_SCHEMA, STICKERS_KEYS),
    "scheduled_events": (SCHEDULED_EVENTS_SCHEMA, SCHEDULED_EVENTS_KEYS),
    "audit_log": (AUDIT_LOG_SCHEMA, AUDIT_LOG_KEYS),
    "audit_log_users": (AUDIT_LOG_USERS_SCHEMA, AUDIT_LOG_USERS_KEYS),
    "audit_log_webhooks": (AUDIT_LOG_WEBHOOKS_SCHEMA, AUDIT_LOG_WEBHOOKS_KEYS),
    "audit_log_integrations": (AUDIT_LOG_INTEGRATIONS_SCHEMA, AUDIT_LOG_INTEGRATIONS_KEYS),
    "audit_log_threads": (AUDIT_LOG_THREADS_SCHEMA, AUDIT_LOG_THREADS_KEYS),
    "pins": (PINS_SCHEMA, PINS_KEYS),
    "message_reactions": (MESSAGE_REACTIONS_SCHEMA, MESSAGE_REACTIONS_KEYS),
    "poll_votes": (POLL_VOTES_SCHEMA, POLL_VOTES_KEYS),
    "current_user": (CURRENT_USER_SCHEMA, CURRENT_USER_KEYS),
    "user_guilds": (USER_GUILDS_SCHEMA, USER_GUILDS_KEYS),
    "user_connections": (USER_CONNECTIONS_SCHEMA, USER_CONNECTIONS_KEYS),
    "user_guild_members": (USER_GUILD_MEMBERS_SCHEMA, USER_GUILD_MEMBERS_KEYS),
    # The rest of a guild (issue 18).
    "bans": (BANS_SCHEMA, BANS_KEYS),
    "automod_rules": (AUTOMOD_RULES_SCHEMA, AUTOMOD_RULES_KEYS),
    "webhooks": (WEBHOOKS_SCHEMA, WEBHOOKS_KEYS),
    "integrations": (INTEGRATIONS_SCHEMA, INTEGRATIONS_KEYS),
    "onboarding": (ONBOARDING_SCHEMA, ONBOARDING_KEYS),
    "welcome_screen": (WELCOME_SCREEN_SCHEMA, WELCOME_SCREEN_KEYS),
    "soundboard_sounds": (SOUNDBOARD_SOUNDS_SCHEMA, SOUNDBOARD_SOUNDS_KEYS),
    "scheduled_event_users": (SCHEDULED_EVENT_USERS_SCHEMA, SCHEDULED_EVENT_USERS_KEYS),
    "thread_members": (THREAD_MEMBERS_SCHEMA, THREAD_MEMBERS_KEYS),
    "role_member_counts": (ROLE_MEMBER_COUNTS_SCHEMA, ROLE_MEMBER_COUNTS_KEYS),
    "vanity_url": (VANITY_URL_SCHEMA, VANITY_URL_KEYS),
}
#: Stream name → record schema.
STREAM_SCHEMAS: dict[str, dict[str, t.Any]] = {name: s for name, (s, _) in STREAMS.items()}
#: Stream name → key properties.
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {name: k for name, (_, k) in STREAMS.items()}

__all__ = [
    "AUDIT_LOG_INTEGRATIONS_KEYS",
    "AUDIT_LOG_INTEGRATIONS_SCHEMA",
    "AUDIT_LOG_KEYS",
    "AUDIT_LOG_SCHEMA",
    "AUDIT_LOG_THREADS_KEYS",
    "AUDIT_LOG_THREADS_SCHEMA",
    "AUDIT_LOG_USERS_KEYS",
    "AUDIT_LOG_USERS_SCHEMA",
    "AUDIT_LOG_WEBHOOKS_KEYS",
    "AUDIT_LOG_WEBHOOKS_SCHEMA",
    "AUTOMOD_RULES_KEYS",
    "AUTOMOD_RULES_SCHEMA",
    "BANS_KEYS",
    "BANS_SCHEMA",
    "CHANNELS_KEYS",
    "CHANNELS_SCHEMA",
    "CURRENT_USER_KEYS",
    "CURRENT_USER_SCHEMA",
    "EMOJIS_KEYS",
    "EMOJIS_SCHEMA",
    "GUILDS_KEYS",
    "GUILDS_SCHEMA",
    "INTEGRATIONS_KEYS",
    "INTEGRATIONS_SCHEMA",
    "INVITES_KEYS",
    "INVITES_SCHEMA",
    "MEMBERS_KEYS",
    "MEMBERS_SCHEMA",
    "MESSAGES_KEYS",
    "MESSAGES_SCHEMA",
    "MESSAGE_REACTIONS_KEYS",
    "MESSAGE_REACTIONS_SCHEMA",
    "ONBOARDING_KEYS",
    "ONBOARDING_SCHEMA",
    "PINS_KEYS",
    "PINS_SCHEMA",
    "POLL_VOTES_KEYS",
    "POLL_VOTES_SCHEMA",
    "PRIMARY_KEYS",
    "ROLES_KEYS",
    "ROLES_SCHEMA",
    "ROLE_MEMBER_COUNTS_KEYS",
    "ROLE_MEMBER_COUNTS_SCHEMA",
    "SCHEDULED_EVENTS_KEYS",
    "SCHEDULED_EVENTS_SCHEMA",
    "SCHEDULED_EVENT_USERS_KEYS",
    "SCHEDULED_EVENT_USERS_SCHEMA",
    "SOUNDBOARD_SOUNDS_KEYS",
    "SOUNDBOARD_SOUNDS_SCHEMA",
    "STICKERS_KEYS",
    "STICKERS_SCHEMA",
    "STREAMS",
    "STREAM_SCHEMAS",
    "THREADS_KEYS",
    "THREADS_SCHEMA",
    "THREAD_MEMBERS_KEYS",
    "THREAD_MEMBERS_SCHEMA",
    "USER_CONNECTIONS_KEYS",
    "USER_CONNECTIONS_SCHEMA",
    "USER_GUILDS_KEYS",
    "USER_GUILDS_SCHEMA",
    "USER_GUILD_MEMBERS_KEYS",
    "USER_GUILD_MEMBERS_SCHEMA",
    "VANITY_URL_KEYS",
    "VANITY_URL_SCHEMA",
    "WEBHOOKS_KEYS",
    "WEBHOOKS_SCHEMA",
    "WELCOME_SCREEN_KEYS",
    "WELCOME_SCREEN_SCHEMA",
]
