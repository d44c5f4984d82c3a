"""Objects that appear inside several resources: users, members, emojis, embeds, polls...

Each object is first written as a field list in the order of Discord's table, with
its presence rules (``always`` / ``always_nullable`` / ``field``), then wrapped with
``nested`` for use inside other objects. A stream whose records *are* such an object
(``current_user``, ``members``, ``emojis``, ``stickers``) builds its schema from the
field list, so the top-level presence rules come from the same source.
"""

from __future__ import annotations

from tap_discord.schemas.fields import (
    ANY_JSON,
    BOOLEAN,
    INTEGER,
    NULL,
    NUMBER,
    PERMISSIONS,
    SNOWFLAKE,
    STRING,
    TIMESTAMP,
    Fields,
    always,
    always_nullable,
    array,
    field,
    map_of,
    nested,
)

# --- User -------------------------------------------------------------------------------
# https://discord.com/developers/docs/resources/user#user-object

AVATAR_DECORATION = nested(
    always("asset", STRING),
    always_nullable("sku_id", SNOWFLAKE),  # the spec allows null
)
NAMEPLATE = nested(
    always_nullable("sku_id", SNOWFLAKE),
    always("asset", STRING),
    always("label", STRING),
    always("palette", STRING),
)
COLLECTIBLES = nested(field("nameplate", NAMEPLATE))
USER_PRIMARY_GUILD = nested(
    always_nullable("identity_guild_id", SNOWFLAKE),
    always_nullable("identity_enabled", BOOLEAN),
    always_nullable("tag", STRING),
    always_nullable("badge", STRING),
)

USER_FIELDS: Fields = (
    always("id", SNOWFLAKE),
    always("username", STRING),
    always("discriminator", STRING),  # "0" for users on unique usernames
    always_nullable("global_name", STRING),
    always_nullable("avatar", STRING),
    field("bot", BOOLEAN),
    field("system", BOOLEAN),
    field("mfa_enabled", BOOLEAN),
    field("banner", STRING),
    field("accent_color", INTEGER),
    field("locale", STRING),
    field("verified", BOOLEAN),
    field("email", STRING),
    field("flags", INTEGER),
    field("premium_type", INTEGER),
    field("public_flags", INTEGER),
    field("avatar_decoration_data", AVATAR_DECORATION),
    field("collectibles", COLLECTIBLES),
    field("primary_guild", USER_PRIMARY_GUILD),
)
#: A user inside another object. Webhook message authors are fake users (webhook id,
#: name and avatar), which is one more reason nested keys are never required.
USER = nested(*USER_FIELDS)

# --- Guild member -----------------------------------------------------------------------
# https://discord.com/developers/docs/resources/guild#guild-member-object

MEMBER_FIELDS: Fields = (
    field("user", USER),
    field("nick", STRING),
    field("avatar", STRING),
    field("banner", STRING),
    always("roles", array(SNOWFLAKE)),
    always_nullable("joined_at", TIMESTAMP),  # null for voice-invited guests
    field("premium_since", TIMESTAMP),
    always("deaf", BOOLEAN),
    always("mute", BOOLEAN),
    always("flags", INTEGER),
    field("pending", BOOLEAN),
    field("permissions", PERMISSIONS),
    field("communication_disabled_until", TIMESTAMP),
    field("avatar_decoration_data", AVATAR_DECORATION),
    field("collectibles", COLLECTIBLES),
)
#: A member inside another object; interactions and resolved data send partial members
#: without ``user``, ``deaf`` and ``mute``.
MEMBER = nested(*MEMBER_FIELDS)

# --- Role parts -------------------------------------------------------------------------
# https://discord.com/developers/docs/topics/permissions#role-object

#: Boolean tags are present with value ``null`` when true, and absent when false.
ROLE_TAGS = nested(
    field("bot_id", SNOWFLAKE),
    field("integration_id", SNOWFLAKE),
    field("premium_subscriber", NULL),
    field("subscription_listing_id", SNOWFLAKE),
    field("available_for_purchase", NULL),
    field("guild_connections", NULL),
)
ROLE_COLORS = nested(
    always("primary_color", INTEGER),
    always_nullable("secondary_color", INTEGER),
    always_nullable("tertiary_color", INTEGER),
)

# --- Emoji and stickers -----------------------------------------------------------------
# https://discord.com/developers/docs/resources/emoji#emoji-object
# https://discord.com/developers/docs/resources/sticker#sticker-object

EMOJI_FIELDS: Fields = (
    always_nullable("id", SNOWFLAKE),  # null for unicode emojis in reactions
    always_nullable("name", STRING),  # null only in reaction emojis
    field("roles", array(SNOWFLAKE)),
    field("user", USER),
    field("require_colons", BOOLEAN),
    field("managed", BOOLEAN),
    field("animated", BOOLEAN),
    field("available", BOOLEAN),
)
EMOJI = nested(*EMOJI_FIELDS)

STICKER_ITEM = nested(
    always("id", SNOWFLAKE),
    always("name", STRING),
    always("format_type", INTEGER),
)
STICKER_FIELDS: Fields = (
    always("id", SNOWFLAKE),
    field("pack_id", SNOWFLAKE),
    always("name", STRING),
    always_nullable("description", STRING),
    always("tags", STRING),
    always("type", INTEGER),
    always_nullable("format_type", INTEGER),  # the spec allows null
    field("available", BOOLEAN),
    field("guild_id", SNOWFLAKE),
    field("user", USER),
    field("sort_value", INTEGER),
)
STICKER = nested(*STICKER_FIELDS)

# --- Applications, as embedded in messages, invites, attachments ------------------------
# https://discord.com/developers/docs/resources/application#application-object

PARTIAL_APPLICATION = nested(
    always("id", SNOWFLAKE),
    always("name", STRING),
    always_nullable("icon", STRING),
    always("description", STRING),
    field("rpc_origins", array(STRING)),
    always("bot_public", BOOLEAN),
    always("bot_require_code_grant", BOOLEAN),
    field("bot", USER),
    field("terms_of_service_url", STRING),
    field("privacy_policy_url", STRING),
    field("owner", USER),
    always("verify_key", STRING),
    always_nullable("team", nested()),
    field("guild_id", SNOWFLAKE),
    field("guild", nested()),
    field("primary_sku_id", SNOWFLAKE),
    field("slug", STRING),
    field("cover_image", STRING),
    field("flags", INTEGER),
    field("flags_new", STRING),
    field("approximate_guild_count", INTEGER),
    field("approximate_user_install_count", INTEGER),
    field("approximate_user_authorization_count", INTEGER),
    field("redirect_uris", array(STRING)),
    field("interactions_endpoint_url", STRING),
    field("role_connections_verification_url", STRING),
    field("event_webhooks_url", STRING),
    field("event_webhooks_status", INTEGER),
    field("event_webhooks_types", array(STRING)),
    field("tags", array(STRING)),
    field("install_params", nested()),
    field("integration_types_config", nested()),
    field("custom_install_url", STRING),
)

# --- Integrations -----------------------------------------------------------------------
# https://discord.com/developers/docs/resources/guild#integration-object

INTEGRATION_ACCOUNT = nested(always("id", STRING), always("name", STRING))
INTEGRATION_APPLICATION = nested(
    always("id", SNOWFLAKE),
    always("name", STRING),
    always_nullable("icon", STRING),
    always("description", STRING),
    field("bot", USER),
)
#: Audit logs and user connections carry *partial* integrations; the docs' example of
#: one also has ``application_id``, which the full structure does not list.
INTEGRATION_FIELDS: Fields = (
    always("id", SNOWFLAKE),
    always("name", STRING),
    always("type", STRING),  # twitch, youtube, discord, guild_subscription
    always("enabled", BOOLEAN),
    field("syncing", BOOLEAN),
    field("role_id", SNOWFLAKE),
    field("enable_emoticons", BOOLEAN),
    field("expire_behavior", INTEGER),
    field("expire_grace_period", INTEGER),
    field("user", USER),
    always("account", INTEGRATION_ACCOUNT),
    field("synced_at", TIMESTAMP),
    field("subscriber_count", INTEGER),
    field("revoked", BOOLEAN),
    field("application", INTEGRATION_APPLICATION),
    field("scopes", array(STRING)),
    field("application_id", SNOWFLAKE),
)
INTEGRATION = nested(*INTEGRATION_FIELDS)

# --- Message parts ----------------------------------------------------------------------
# https://discord.com/developers/docs/resources/message#message-object

ATTACHMENT = nested(
    always("id", SNOWFLAKE),
    always("filename", STRING),
    field("title", STRING),
    field("description", STRING),
    field("content_type", STRING),
    always("size", INTEGER),
    always("url", STRING),  # signed, expiring: changes on every read
    always("proxy_url", STRING),
    field("height", INTEGER),
    field("width", INTEGER),
    field("placeholder", STRING),
    field("placeholder_version", INTEGER),
    field("ephemeral", BOOLEAN),
    field("duration_secs", NUMBER),  # a float
    field("waveform", STRING),
    field("flags", INTEGER),
    field("clip_participants", array(USER)),
    field("clip_created_at", TIMESTAMP),
    field("application", PARTIAL_APPLICATION),
)

EMBED_FOOTER = nested(
    always("text", STRING),
    field("icon_url", STRING),
    field("proxy_icon_url", STRING),
)
#: Embed image and thumbnail share one structure.
EMBED_IMAGE = nested(
    always("url", STRING),
    field("proxy_url", STRING),
    field("height", INTEGER),
    field("width", INTEGER),
    field("content_type", STRING),
    field("placeholder", STRING),
    field("placeholder_version", INTEGER),
    field("description", STRING),
    field("flags", INTEGER),
)
EMBED_VIDEO = nested(
    field("url", STRING),
    field("proxy_url", STRING),
    field("height", INTEGER),
    field("width", INTEGER),
    field("content_type", STRING),
    field("placeholder", STRING),
    field("placeholder_version", INTEGER),
    field("description", STRING),
    field("flags", INTEGER),
)
EMBED_PROVIDER = nested(field("name", STRING), field("url", STRING))
EMBED_AUTHOR = nested(
    always("name", STRING),
    field("url", STRING),
    field("icon_url", STRING),
    field("proxy_icon_url", STRING),
)
EMBED_FIELD = nested(
    always("name", STRING),
    always("value", STRING),
    field("inline", BOOLEAN),
)
EMBED = nested(
    field("title", STRING),
    field("type", STRING),
    field("description", STRING),
    field("url", STRING),
    field("timestamp", TIMESTAMP),
    field("color", INTEGER),
    field("footer", EMBED_FOOTER),
    field("image", EMBED_IMAGE),
    field("thumbnail", EMBED_IMAGE),
    field("video", EMBED_VIDEO),
    field("provider", EMBED_PROVIDER),
    field("author", EMBED_AUTHOR),
    field("fields", array(EMBED_FIELD)),
    field("flags", INTEGER),
)

REACTION_COUNT_DETAILS = nested(always("burst", INTEGER), always("normal", INTEGER))
REACTION = nested(
    always("count", INTEGER),
    always("count_details", REACTION_COUNT_DETAILS),
    always("me", BOOLEAN),
    always("me_burst", BOOLEAN),
    always("emoji", EMOJI),  # partial: {id, name} (and animated)
    always("burst_colors", array(STRING)),  # hex colors
)

#: ``type`` 0 = DEFAULT (reply, crosspost, pin...), 1 = FORWARD; absent means DEFAULT.
MESSAGE_REFERENCE = nested(
    field("type", INTEGER),
    field("message_id", SNOWFLAKE),
    field("channel_id", SNOWFLAKE),
    field("guild_id", SNOWFLAKE),
    field("fail_if_not_exists", BOOLEAN),
)

CHANNEL_MENTION = nested(
    always("id", SNOWFLAKE),
    always("guild_id", SNOWFLAKE),
    always("type", INTEGER),
    always("name", STRING),
)

#: Message components (action rows, buttons, selects, Components V2 layouts...) nest
#: arbitrarily and keep growing; only the ``type`` every component has is typed.
COMPONENT = nested(field("type", INTEGER))
COMPONENTS = array(COMPONENT)

# --- Poll -------------------------------------------------------------------------------
# https://discord.com/developers/docs/resources/poll#poll-object

POLL_MEDIA = nested(field("text", STRING), field("emoji", EMOJI))
POLL_ANSWER = nested(always("answer_id", INTEGER), always("poll_media", POLL_MEDIA))
POLL_ANSWER_COUNT = nested(
    always("id", INTEGER),
    always("count", INTEGER),
    always("me_voted", BOOLEAN),
)
POLL_RESULTS = nested(
    always("is_finalized", BOOLEAN),
    always("answer_counts", array(POLL_ANSWER_COUNT)),
)
POLL = nested(
    always("question", POLL_MEDIA),
    always("answers", array(POLL_ANSWER)),
    always_nullable("expiry", TIMESTAMP),
    always("allow_multiselect", BOOLEAN),
    always("layout_type", INTEGER),
    field("results", POLL_RESULTS),
)

# --- Channel parts ----------------------------------------------------------------------
# https://discord.com/developers/docs/resources/channel#channel-object

#: ``type`` 0 = role, 1 = member.
PERMISSION_OVERWRITE = nested(
    always("id", SNOWFLAKE),
    always("type", INTEGER),
    always("allow", PERMISSIONS),
    always("deny", PERMISSIONS),
)
THREAD_METADATA = nested(
    always("archived", BOOLEAN),
    always("auto_archive_duration", INTEGER),
    always_nullable("archive_timestamp", TIMESTAMP),  # the spec allows null
    always("locked", BOOLEAN),
    field("invitable", BOOLEAN),
    field("create_timestamp", TIMESTAMP),
)
THREAD_MEMBER = nested(
    field("id", SNOWFLAKE),
    field("user_id", SNOWFLAKE),
    always("join_timestamp", TIMESTAMP),
    always("flags", INTEGER),
    field("member", MEMBER),
)
FORUM_TAG = nested(
    always("id", SNOWFLAKE),
    always("name", STRING),
    always("moderated", BOOLEAN),
    always_nullable("emoji_id", SNOWFLAKE),
    always_nullable("emoji_name", STRING),
)
DEFAULT_REACTION = nested(
    always_nullable("emoji_id", SNOWFLAKE),
    always_nullable("emoji_name", STRING),
)

# --- Scheduled event parts --------------------------------------------------------------
# https://discord.com/developers/docs/resources/guild-scheduled-event#guild-scheduled-event-object

#: ``location`` is set for EXTERNAL events only.
ENTITY_METADATA = nested(field("location", STRING))
RECURRENCE_N_WEEKDAY = nested(always("n", INTEGER), always("day", INTEGER))
RECURRENCE_RULE = nested(
    always("start", TIMESTAMP),
    always_nullable("end", TIMESTAMP),
    always("frequency", INTEGER),
    always("interval", INTEGER),
    always_nullable("by_weekday", array(INTEGER)),
    always_nullable("by_n_weekday", array(RECURRENCE_N_WEEKDAY)),
    always_nullable("by_month", array(INTEGER)),
    always_nullable("by_month_day", array(INTEGER)),
    always_nullable("by_year_day", array(INTEGER)),
    always_nullable("count", INTEGER),
)

# --- Audit log parts --------------------------------------------------------------------
# https://discord.com/developers/docs/resources/audit-log#audit-log-object

#: ``new_value``/``old_value`` take the type of whatever field changed: strings, numbers,
#: booleans, arrays of role or overwrite objects... so they carry no type at all. A
#: missing ``new_value`` means the field was reset; a missing ``old_value``, that it was
#: null before.
AUDIT_LOG_CHANGE = nested(
    field("new_value", ANY_JSON),
    field("old_value", ANY_JSON),
    always("key", STRING),
)

# --- Small objects used by a single parent, kept here with their siblings --------------

WELCOME_SCREEN_CHANNEL = nested(
    always("channel_id", SNOWFLAKE),
    always("description", STRING),
    always_nullable("emoji_id", SNOWFLAKE),
    always_nullable("emoji_name", STRING),
)
WELCOME_SCREEN = nested(
    always_nullable("description", STRING),
    always("welcome_channels", array(WELCOME_SCREEN_CHANNEL)),
)
INCIDENTS_DATA = nested(
    always_nullable("invites_disabled_until", TIMESTAMP),
    always_nullable("dms_disabled_until", TIMESTAMP),
    field("dm_spam_detected_at", TIMESTAMP),
    field("raid_detected_at", TIMESTAMP),
)

#: Snowflake-keyed dictionaries, e.g. ``resolved.users`` or
#: ``authorizing_integration_owners`` (integration type → user or guild id).
SNOWFLAKE_MAP = map_of(SNOWFLAKE)
