"""Messages, plus the additions of Discord's OpenAPI spec.

https://discord.com/developers/docs/resources/message#message-object
https://github.com/discord/discord-api-spec

REST messages carry no ``guild_id``; the tap adds it from the channel. Every nested
object Discord documents is typed, including the ones that only some message types
carry (forwards, replies, interactions, polls, role subscriptions, calls).
"""

from __future__ import annotations

from singer_sdk import typing as th

from tap_discord.schemas.channels import CHANNEL
from tap_discord.schemas.common import (
    ATTACHMENT,
    CHANNEL_MENTION,
    COMPONENTS,
    EMBED,
    MEMBER,
    MESSAGE_REFERENCE,
    PARTIAL_APPLICATION,
    POLL,
    REACTION,
    SNOWFLAKE_MAP,
    STICKER,
    STICKER_ITEM,
    USER,
)
from tap_discord.schemas.fields import (
    BOOLEAN,
    GUILD_ID,
    INTEGER,
    INTEGER_OR_STRING,
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
    record,
)
from tap_discord.schemas.roles import ROLE
from tap_discord.tombstones import with_tombstones

MESSAGE_ACTIVITY = nested(always("type", INTEGER), field("party_id", STRING))
MESSAGE_CALL = nested(
    always("participants", array(SNOWFLAKE)),
    field("ended_timestamp", TIMESTAMP),
)
ROLE_SUBSCRIPTION_DATA = nested(
    always("role_subscription_listing_id", SNOWFLAKE),
    always("tier_name", STRING),
    always("total_months_subscribed", INTEGER),
    always("is_renewal", BOOLEAN),
)
SHARED_CLIENT_THEME = nested(
    always("colors", array(STRING)),  # hex colors, up to 5
    always("gradient_angle", INTEGER),
    always("base_mix", INTEGER),
    field("base_theme", INTEGER),
)
#: Spec only (``PurchaseNotificationResponse``): ``type`` 0 = GUILD_PRODUCT.
PURCHASE_NOTIFICATION = nested(
    always("type", INTEGER),
    field(
        "guild_product_purchase",
        nested(always("listing_id", SNOWFLAKE), always("product_name", STRING)),
    ),
)
#: Spec only (``MessageLobbyMemberResponse``).
LOBBY_MEMBER = nested(always("additional_name", STRING))

#: The three interaction-metadata structures (application command, message component,
#: modal submit) merged: they share ``id, type, user, authorizing_integration_owners``.
INTERACTION_METADATA_FIELDS: Fields = (
    always("id", SNOWFLAKE),
    always("type", INTEGER),
    always("user", USER),
    always("authorizing_integration_owners", SNOWFLAKE_MAP),
    field("original_response_message_id", SNOWFLAKE),
    field("target_user", USER),
    field("target_message_id", SNOWFLAKE),
    field("interacted_message_id", SNOWFLAKE),
)
INTERACTION_METADATA = nested(
    *INTERACTION_METADATA_FIELDS,
    field("triggering_interaction_metadata", nested(*INTERACTION_METADATA_FIELDS)),
)
#: Deprecated in favour of ``interaction_metadata``, still sent.
MESSAGE_INTERACTION = nested(
    always("id", SNOWFLAKE),
    always("type", INTEGER),
    always("name", STRING),
    always("user", USER),
    field("member", MEMBER),
)

#: Maps of snowflake to object. Resolved messages are partial; they are kept as open
#: objects rather than typed again.
RESOLVED = nested(
    field("users", map_of(USER)),
    field("members", map_of(MEMBER)),
    field("roles", map_of(ROLE)),
    field("channels", map_of(CHANNEL)),
    field("messages", map_of(nested())),
    field("attachments", map_of(ATTACHMENT)),
)


def message_fields(snapshot: th.CustomType) -> Fields:
    """Every message field except ``referenced_message``, which is a message itself.

    ``snapshot`` types the items of ``message_snapshots``, whose ``message`` is in turn
    a subset of these fields: hence a function, called twice.
    """
    return (
        always("id", SNOWFLAKE),
        always("channel_id", SNOWFLAKE),
        always("author", USER),  # a fake user (webhook id, name, avatar) for webhooks
        always("content", STRING),  # "" without the Message Content intent
        always("timestamp", TIMESTAMP),
        always_nullable("edited_timestamp", TIMESTAMP),
        always("tts", BOOLEAN),
        always("mention_everyone", BOOLEAN),
        always("mentions", array(USER)),
        always("mention_roles", array(SNOWFLAKE)),
        field("mention_channels", array(CHANNEL_MENTION)),
        always("attachments", array(ATTACHMENT)),
        always("embeds", array(EMBED)),
        field("reactions", array(REACTION)),  # absent when there are none
        field("nonce", INTEGER_OR_STRING),
        always("pinned", BOOLEAN),
        field("webhook_id", SNOWFLAKE),
        always("type", INTEGER),
        field("activity", MESSAGE_ACTIVITY),
        field("application", PARTIAL_APPLICATION),
        field("application_id", SNOWFLAKE),
        field("flags", INTEGER),  # the spec marks it required, the docs optional
        field("message_reference", MESSAGE_REFERENCE),
        field("message_snapshots", array(snapshot)),  # forwards only, at most one
        field("interaction_metadata", INTERACTION_METADATA),
        field("interaction", MESSAGE_INTERACTION),
        field("thread", CHANNEL),
        field("components", COMPONENTS),  # the spec marks it required, the docs optional
        field("sticker_items", array(STICKER_ITEM)),
        field("stickers", array(STICKER)),  # deprecated
        field("position", INTEGER),
        field("role_subscription_data", ROLE_SUBSCRIPTION_DATA),
        field("resolved", RESOLVED),
        field("poll", POLL),  # omitted without the Message Content intent
        field("call", MESSAGE_CALL),
        field("shared_client_theme", SHARED_CLIENT_THEME),
        field("purchase_notification", PURCHASE_NOTIFICATION),
        field("lobby_member", LOBBY_MEMBER),
    )


#: A forward's copy of the original: a "minimal subset" of message fields, no author.
SNAPSHOT_MESSAGE_FIELD_NAMES = frozenset(
    {
        "type",
        "content",
        "embeds",
        "attachments",
        "timestamp",
        "edited_timestamp",
        "flags",
        "mentions",
        "mention_roles",
        "stickers",
        "sticker_items",
        "components",
    }
)
MESSAGE_SNAPSHOT = nested(
    always(
        "message",
        nested(
            *(
                prop
                for prop in message_fields(nested())
                if prop.name in SNAPSHOT_MESSAGE_FIELD_NAMES
            )
        ),
    )
)
MESSAGE_FIELDS = message_fields(MESSAGE_SNAPSHOT)

#: The replied-to (or thread-starter, or command-target) message: present only on types
#: 19, 21 and 23; absent = not fetched, null = deleted. Typed with every message field
#: but its own ``referenced_message``, which Discord does not nest further.
REFERENCED_MESSAGE = nested(*MESSAGE_FIELDS)

#: Fields rarely filled on a guild's messages, or deprecated, that a record keeps
#: together in one ``extras`` object, each under its own name and typed as above,
#: instead of a column each: a SQL loader pays for every declared column on every row,
#: filled or not (bench/README.md has the figures). Calls and lobby members belong to
#: DMs and lobbies; ``interaction`` and ``stickers`` are deprecated in favour of
#: ``interaction_metadata`` and ``sticker_items``; ``thread`` repeats the threads stream;
#: a nonce only matters to the client that sent the message.
EXTRAS_FIELD_NAMES = frozenset(
    {
        "activity",
        "application",
        "call",
        "interaction",
        "lobby_member",
        "mention_channels",
        "nonce",
        "purchase_notification",
        "resolved",
        "role_subscription_data",
        "shared_client_theme",
        "stickers",
        "thread",
    }
)
EXTRAS = field(
    "extras",
    nested(*(prop for prop in MESSAGE_FIELDS if prop.name in EXTRAS_FIELD_NAMES)),
    description="Added by the tap: the message's rarely filled fields (absent: none).",
)

MESSAGES_KEYS = ("id",)
#: A message deleted inside `message_lookback` is a tombstone: these and `_sdc_deleted_at`.
MESSAGE_TOMBSTONE_FIELDS = ("id", "channel_id", "guild_id")
MESSAGES_SCHEMA = with_tombstones(
    record(
        tuple(prop for prop in MESSAGE_FIELDS if prop.name not in EXTRAS_FIELD_NAMES),
        (field("referenced_message", REFERENCED_MESSAGE), EXTRAS, GUILD_ID),
    ),
    MESSAGE_TOMBSTONE_FIELDS,
)
