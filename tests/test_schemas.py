"""Stream schemas: valid JSON Schema, faithful to Discord's object reference, loader-friendly.

Four layers:

* every exported schema is a valid Draft 7 schema whose key properties are required
  and non-null, and the streams of the tap use exactly these schemas and keys;
* the conventions hold everywhere (ids and bitsets are strings, timestamps are
  ``date-time``, integers unbounded, objects open, nested keys optional, permissive
  types only where Discord's type genuinely varies);
* hand-written objects shaped like the docs' examples (the object pages each schema
  module links) validate, and
  objects with a wrong type do not;
* every object of the emulator's small world, and every record the tap emits
  against the emulator, validates against its stream's schema.
"""

from __future__ import annotations

import copy
import datetime as dt
import fnmatch
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from tap_discord import schemas
from tap_discord.streams import BOT_STREAMS, OAUTH_STREAMS
from tap_discord.streams.messages import gather_extras
from tap_discord.tombstones import always_present, tombstone

# --- helpers ---------------------------------------------------------------------------

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def is_datetime(value: object) -> bool:
    """RFC 3339 with an offset (jsonschema's own check needs an extra package)."""
    if not isinstance(value, str):
        return True
    if not RFC3339.match(value):
        raise ValueError(f"not an RFC 3339 date-time: {value!r}")
    dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return True


def validator(stream: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schemas.STREAM_SCHEMAS[stream], format_checker=FORMATS)


def errors(stream: str, record: dict[str, Any]) -> list[str]:
    """Every validation error, as `path: message`, so a failure lists them all.

    A message is checked as the tap emits it: its rarely filled fields in `extras`.
    """
    if stream == "messages":
        record = gather_extras(copy.deepcopy(record))
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<record>'}: {e.message[:200]}"
        for e in validator(stream).iter_errors(record)
    ]


def assert_valid(stream: str, record: dict[str, Any]) -> None:
    found = errors(stream, record)
    assert not found, f"{stream}: " + "\n".join(found)


def types_of(prop: dict[str, Any]) -> set[str]:
    kind = prop.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def walk(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every named property below `schema`: (path of its parent, name, property schema).

    Array items and dictionary values (`additionalProperties` schemas) are followed;
    their path segments are `[]` and `{}`.
    """
    for name, prop in schema.get("properties", {}).items():
        yield path, name, prop
        yield from walk_value(prop, f"{path}/{name}")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from walk_value(extra, f"{path}/{{}}")


def walk_value(prop: dict[str, Any], path: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    if "properties" in prop or isinstance(prop.get("additionalProperties"), dict):
        yield from walk(prop, path)
    if isinstance(prop.get("items"), dict):
        yield from walk_value(prop["items"], f"{path}/[]")


def objects_below(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object schema nested inside a record schema (not the record itself)."""
    for parent, name, prop in walk(schema):
        here = f"{parent}/{name}"
        for candidate, where in ((prop, here), (prop.get("items") or {}, f"{here}/[]")):
            if "object" in types_of(candidate):
                yield where, candidate
        extra = prop.get("additionalProperties")
        if isinstance(extra, dict) and "object" in types_of(extra):
            yield f"{here}/{{}}", extra


ALL_STREAMS = sorted(schemas.STREAM_SCHEMAS)


def stream_name(stream_class: Any) -> str:
    return str(stream_class.name)


# --- 1. valid schemas, keys, and the tap's use of them -----------------------------------


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_schema_is_valid_draft7(stream: str) -> None:
    jsonschema.Draft7Validator.check_schema(schemas.STREAM_SCHEMAS[stream])


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_keys_are_required_non_null_strings(stream: str) -> None:
    schema = schemas.STREAM_SCHEMAS[stream]
    keys = schemas.PRIMARY_KEYS[stream]
    assert keys
    for key in keys:
        assert key in schema["required"], f"{stream}.{key} must be required"
        assert types_of(schema["properties"][key]) == {"string"}, f"{stream}.{key}"


def test_every_exported_schema_is_registered_with_its_keys() -> None:
    exported = {name for name in schemas.__all__ if name.endswith("_SCHEMA")}
    assert len(exported) == len(schemas.STREAM_SCHEMAS)
    for name in exported:
        stream = name.removesuffix("_SCHEMA").lower()
        assert getattr(schemas, name) is schemas.STREAM_SCHEMAS[stream]
        assert getattr(schemas, f"{stream.upper()}_KEYS") == schemas.PRIMARY_KEYS[stream]


@pytest.mark.parametrize(
    "stream_class",
    sorted({*BOT_STREAMS, *OAUTH_STREAMS}, key=stream_name),
    ids=stream_name,
)
def test_tap_streams_use_these_schemas_and_keys(stream_class: Any) -> None:
    assert stream_class.schema is schemas.STREAM_SCHEMAS[stream_class.name]
    assert tuple(stream_class.primary_keys) == schemas.PRIMARY_KEYS[stream_class.name]


# --- 2. conventions ----------------------------------------------------------------------

#: Integer ids that are not snowflakes: poll answers are numbered 1, 2, 3...
INTEGER_IDS = {("/poll/answers/[]", "answer_id"), ("/poll/results/answer_counts/[]", "id")}
BITSETS = {"permissions", "app_permissions", "allow", "deny"}
TIMESTAMP_NAMES = {"timestamp", "premium_since", "expiry", "start", "end"}


def is_id_name(name: str) -> bool:
    return name == "id" or name.endswith("_id")


def is_timestamp_name(name: str) -> bool:
    return name in TIMESTAMP_NAMES or name.endswith(("_at", "_timestamp", "_until", "_time"))


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_ids_and_bitsets_are_strings(stream: str) -> None:
    wrong = []
    for parent, name, prop in walk(schemas.STREAM_SCHEMAS[stream]):
        if not (is_id_name(name) or name in BITSETS):
            continue
        integer_id = any(parent.endswith(where) and name == n for where, n in INTEGER_IDS)
        expected = "integer" if integer_id else "string"
        if types_of(prop) - {"null"} != {expected}:
            wrong.append(f"{parent}/{name}: {prop.get('type')}")
    assert not wrong, wrong


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_timestamps_are_date_times(stream: str) -> None:
    wrong = [
        f"{parent}/{name}"
        for parent, name, prop in walk(schemas.STREAM_SCHEMAS[stream])
        if is_timestamp_name(name)
        and not (types_of(prop) - {"null"} == {"string"} and prop.get("format") == "date-time")
    ]
    assert not wrong, wrong


#: The only properties whose type is left open, and why (see schemas/fields.py).
PERMISSIVE = {
    "new_value": set(),  # audit-log change: any JSON value
    "old_value": set(),
    "nonce": {"integer", "string", "null"},  # whatever the sender chose
}


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_types_are_exact_except_where_discord_varies(stream: str) -> None:
    for parent, name, prop in walk(schemas.STREAM_SCHEMAS[stream]):
        kinds = types_of(prop)
        if name in PERMISSIVE:
            assert kinds == PERMISSIVE[name], f"{parent}/{name}"
            continue
        assert kinds, f"{parent}/{name} has no type"
        # One JSON type (plus null), so a column never holds two kinds of values; or
        # only null, for the role tags that mean "true" by being present as null.
        assert len(kinds - {"null"}) == 1 or kinds == {"null"}, f"{parent}/{name}: {kinds}"


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_loader_friendly(stream: str) -> None:
    """Open objects, optional nested keys, unbounded integers (see schemas/fields.py)."""
    schema = schemas.STREAM_SCHEMAS[stream]
    assert schema.get("additionalProperties") is not False
    for where, obj in objects_below(schema):
        assert obj.get("additionalProperties") is not False, where
        assert not obj.get("required"), f"{where} requires {obj.get('required')}"
    for parent, name, prop in walk(schema):
        if "integer" in types_of(prop):
            assert "minimum" not in prop and "maximum" not in prop, f"{parent}/{name}"


def test_a_message_tombstone_is_valid_and_a_message_missing_a_field_is_not() -> None:
    """Validating targets accept the tombstones of deleted messages (README, Deletions)."""
    validator = jsonschema.Draft7Validator(
        schemas.MESSAGES_SCHEMA, format_checker=jsonschema.FormatChecker()
    )
    key = {"id": "1300000000000000000", "channel_id": "2", "guild_id": "3"}
    dead = tombstone(key, dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc))
    assert not list(validator.iter_errors(dead))
    assert list(validator.iter_errors({**dead, "_sdc_deleted_at": None}))
    assert list(validator.iter_errors({k: v for k, v in dead.items() if k != "channel_id"}))
    assert "_sdc_deleted_at" in schemas.MESSAGES_SCHEMA["properties"]


def test_optional_fields_allow_null_and_nullable_fields_are_present() -> None:
    """`name?` is not required; `?type` allows null; `type` alone does neither."""
    message = schemas.MESSAGES_SCHEMA
    live = always_present(message)  # a tombstone has fewer (tombstones.with_tombstones)
    assert "edited_timestamp" in live
    assert "null" in types_of(message["properties"]["edited_timestamp"])
    assert "content" in live
    assert "null" not in types_of(message["properties"]["content"])
    assert "referenced_message" not in live
    assert "null" in types_of(message["properties"]["referenced_message"])
    member = schemas.MEMBERS_SCHEMA
    assert "joined_at" in member["required"]
    assert "null" in types_of(member["properties"]["joined_at"])
    assert "nick" not in member["required"]


# --- 3. samples shaped like the docs' examples ------------------------------------------

GUILD_ID = "290926798626357250"
CHANNEL_ID = "290926798999357250"
TS = "2017-07-11T17:27:07.299000+00:00"
USER = {
    "id": "53908099506183680",
    "username": "mason",
    "discriminator": "0",
    "global_name": "Mason",
    "avatar": "a_bab14f271d565501444b2ca3be944b25",
    "public_flags": 131141,
}


def message(**fields: Any) -> dict[str, Any]:
    """A plain message as `GET /channels/{id}/messages` returns it, plus `guild_id`."""
    base: dict[str, Any] = {
        "id": "334385199974967042",
        "channel_id": CHANNEL_ID,
        "author": USER,
        "content": "Supa Hot",
        "timestamp": TS,
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
        "components": [],
        "guild_id": GUILD_ID,
    }
    return {**base, **fields}


def role(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "41771983423143936",
        "name": "WE DEM BOYZZ!!!!!!",
        "color": 3447003,
        "colors": {"primary_color": 3447003, "secondary_color": None, "tertiary_color": None},
        "hoist": True,
        "icon": "cf3ced8600b777c9486c6d8d84fb4327",
        "unicode_emoji": None,
        "position": 1,
        "permissions": "66321471",
        "managed": False,
        "mentionable": False,
        "flags": 0,
        "guild_id": GUILD_ID,
    }
    return {**base, **fields}


THREAD = {
    "id": "41771983423143937",
    "guild_id": "41771983423143937",
    "parent_id": "41771983423143937",
    "owner_id": "41771983423143937",
    "name": "don't buy dota-2",
    "type": 11,
    "last_message_id": "155117677105512449",
    "message_count": 1,
    "member_count": 5,
    "rate_limit_per_user": 2,
    "thread_metadata": {
        "archived": False,
        "auto_archive_duration": 1440,
        "archive_timestamp": "2021-04-12T23:40:39.855793+00:00",
        "locked": False,
        "create_timestamp": "2021-04-12T23:40:39.855793+00:00",
    },
    "total_message_sent": 1,
    "applied_tags": [],
    "flags": 0,
}

INVITE = {
    "type": 0,
    "code": "0vCdhLbwjZZTWZLD",
    "guild": {
        "id": "165176875973476352",
        "name": "CS:GO Fraggers Only",
        "splash": None,
        "banner": None,
        "description": "Very good description",
        "icon": None,
        "features": ["NEWS", "DISCOVERABLE"],
        "verification_level": 2,
        "vanity_url_code": None,
        "nsfw_level": 0,
        "premium_subscription_count": 5,
    },
    "channel": {"id": "165176875973476352", "name": "illuminati", "type": 0},
    "inviter": {
        "id": "115590097100865541",
        "username": "speed",
        "avatar": "deadbeef",
        "discriminator": "7653",
        "public_flags": 131328,
    },
    "target_type": 1,
    "target_user": {
        "id": "165176875973476352",
        "username": "bob",
        "avatar": "deadbeef",
        "discriminator": "1234",
        "public_flags": 64,
    },
    "expires_at": None,
    "guild_id": "165176875973476352",
}

GUILD = {
    "id": "2909267986263572999",
    "name": "Mason's Test Server",
    "icon": "389030ec9db118cb5b85a732333b7c98",
    "description": None,
    "splash": "75610b05a0dd09ec2c3c7df9f64b0b3e",
    "discovery_splash": None,
    "approximate_member_count": 2,
    "approximate_presence_count": 2,
    "features": ["INVITE_SPLASH", "VANITY_URL", "COMMERCE", "NEWS", "ANIMATED_ICON"],
    "emojis": [
        {
            "name": "ultrafastparrot",
            "roles": [],
            "id": "393564762228785161",
            "require_colons": True,
            "managed": False,
            "animated": True,
            "available": True,
        }
    ],
    "stickers": [],
    "banner": "5c3cb8d1bc159937fffe7e641ec96ca7",
    "owner_id": "53908232506183680",
    "application_id": None,
    "region": None,
    "afk_channel_id": None,
    "afk_timeout": 300,
    "system_channel_id": None,
    "widget_enabled": False,
    "widget_channel_id": None,
    "verification_level": 0,
    "roles": [{k: v for k, v in role(id="2909267986263572999").items() if k != "guild_id"}],
    "default_message_notifications": 0,
    "mfa_level": 0,
    "explicit_content_filter": 0,
    "max_presences": None,
    "max_members": 250000,
    "max_video_channel_users": 25,
    "vanity_url_code": "no",
    "premium_tier": 0,
    "premium_subscription_count": 0,
    "system_channel_flags": 0,
    "preferred_locale": "en-US",
    "rules_channel_id": None,
    "public_updates_channel_id": None,
    "safety_alerts_channel_id": None,
    # Always sent per the docs' table and the spec; the docs' older example lacks them.
    "nsfw_level": 0,
    "premium_progress_bar_enabled": False,
    "incidents_data": None,
    "guild_id": "2909267986263572999",
}

VALID_SAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "plain message (docs example, with a reaction)": (
        "messages",
        message(
            reactions=[
                {
                    "count": 1,
                    "count_details": {"burst": 0, "normal": 1},
                    "me": False,
                    "me_burst": False,
                    "emoji": {"id": None, "name": "🔥"},
                    "burst_colors": [],
                }
            ]
        ),
    ),
    "message with an integer nonce": ("messages", message(nonce=1173598411240931328)),
    "message with a string nonce": ("messages", message(nonce="1173598411240931328")),
    "webhook message with a rich embed": (
        "messages",
        message(
            author={
                "id": "223704706495545344",
                "username": "Captain Hook",
                "avatar": None,
                "discriminator": "0000",
                "bot": True,
            },
            webhook_id="223704706495545344",
            application_id="223704706495545345",
            embeds=[
                {
                    "type": "rich",
                    "title": "Deploy finished",
                    "description": "build **#42**",
                    "url": "https://example.com/builds/42",
                    "timestamp": "2024-05-01T12:00:00+00:00",
                    "color": 5814783,
                    "footer": {"text": "ci", "icon_url": "https://example.com/ci.png"},
                    "thumbnail": {"url": "https://example.com/t.png", "width": 80, "height": 80},
                    "author": {"name": "ci-bot"},
                    "fields": [{"name": "status", "value": "ok", "inline": True}],
                }
            ],
        ),
    ),
    "crossposted message (docs example)": (
        "messages",
        message(
            content="Big news! In this <#278325129692446722> channel!",
            mention_channels=[
                {
                    "id": "278325129692446722",
                    "guild_id": "278325129692446720",
                    "name": "big-news",
                    "type": 5,
                }
            ],
            flags=2,
            message_reference={
                "type": 0,
                "channel_id": "278325129692446722",
                "guild_id": "278325129692446720",
                "message_id": "306588351130107906",
            },
        ),
    ),
    "reply whose referenced message was deleted": (
        "messages",
        message(
            type=19,
            message_reference={
                "type": 0,
                "message_id": "334385199974967000",
                "channel_id": CHANNEL_ID,
                "guild_id": GUILD_ID,
            },
            referenced_message=None,
        ),
    ),
    "reply with its referenced message": (
        "messages",
        message(
            type=19,
            message_reference={"message_id": "334385199974967000", "channel_id": CHANNEL_ID},
            referenced_message={
                k: v for k, v in message(id="334385199974967000").items() if k != "guild_id"
            },
        ),
    ),
    "forwarded message with a snapshot": (
        "messages",
        message(
            content="",
            flags=1 << 14,  # HAS_SNAPSHOT
            message_reference={
                "type": 1,
                "message_id": "306588351130107906",
                "channel_id": "278325129692446722",
                "guild_id": "278325129692446720",
            },
            message_snapshots=[
                {
                    "message": {
                        "type": 0,
                        "content": "the original",
                        "embeds": [],
                        "attachments": [
                            {
                                "id": "1100000000000000000",
                                "filename": "cat.png",
                                "size": 1024,
                                "url": "https://cdn.discordapp.com/attachments/1/2/cat.png?ex=1&is=2&hm=3",
                                "proxy_url": "https://media.discordapp.net/attachments/1/2/cat.png",
                                "width": 64,
                                "height": 64,
                                "content_type": "image/png",
                            }
                        ],
                        "timestamp": TS,
                        "edited_timestamp": None,
                        "flags": 0,
                        "mentions": [],
                        "mention_roles": [],
                        "components": [],
                    }
                }
            ],
        ),
    ),
    "voice message, thread starter, stickers, components, interaction": (
        "messages",
        message(
            flags=1 << 13,
            attachments=[
                {
                    "id": "1100000000000000001",
                    "filename": "voice-message.ogg",
                    "size": 7680,
                    "url": "https://cdn.discordapp.com/attachments/1/2/voice-message.ogg",
                    "proxy_url": "https://media.discordapp.net/attachments/1/2/voice-message.ogg",
                    "duration_secs": 3.52,
                    "waveform": "AAAAAAAAAAAA",
                    "flags": 0,
                    "height": None,
                    "width": None,
                }
            ],
            thread=THREAD,
            sticker_items=[{"id": "749054660769218631", "name": "Wave", "format_type": 3}],
            components=[
                {
                    "type": 1,
                    "id": 1,
                    "components": [
                        {"type": 2, "style": 1, "label": "Go", "custom_id": "go"},
                        {"type": 2, "style": 5, "label": "Docs", "url": "https://discord.com"},
                    ],
                },
                {"type": 17, "components": [{"type": 10, "content": "# Hello"}]},
            ],
            interaction_metadata={
                "id": "1100000000000000002",
                "type": 2,
                "user": USER,
                "authorizing_integration_owners": {"0": GUILD_ID},
                "original_response_message_id": "1100000000000000003",
            },
            interaction={"id": "1100000000000000002", "type": 2, "name": "ping", "user": USER},
            application_id="1100000000000000004",
            position=3,
            webhook_id="1100000000000000004",
        ),
    ),
    "poll, role subscription, call": (
        "messages",
        message(
            poll={
                "question": {"text": "Lunch?"},
                "answers": [
                    {"answer_id": 1, "poll_media": {"text": "Pizza", "emoji": {"name": "🍕"}}},
                    {"answer_id": 2, "poll_media": {"text": "Sushi"}},
                ],
                "expiry": "2024-05-02T12:00:00.000000+00:00",
                "allow_multiselect": False,
                "layout_type": 1,
                "results": {
                    "is_finalized": False,
                    "answer_counts": [{"id": 1, "count": 3, "me_voted": False}],
                },
            },
            role_subscription_data={
                "role_subscription_listing_id": "1100000000000000005",
                "tier_name": "Gold",
                "total_months_subscribed": 3,
                "is_renewal": True,
            },
            call={"participants": [USER["id"]], "ended_timestamp": None},
        ),
    ),
    "role with tags (booster role)": ("roles", role(tags={"premium_subscriber": None})),
    "role of a bot": ("roles", role(managed=True, tags={"bot_id": "1100000000000000006"})),
    "the @everyone role (docs example)": ("roles", role(id=GUILD_ID, name="@everyone")),
    "invite without metadata (docs example)": ("invites", INVITE),
    "invite with metadata": (
        "invites",
        {
            **INVITE,
            "uses": 0,
            "max_uses": 0,
            "max_age": 0,
            "temporary": False,
            "created_at": "2016-03-31T19:15:39.954000+00:00",
            "expires_at": "2016-04-01T19:15:39.954000+00:00",
            "flags": 0,
            "roles": [
                {
                    "id": "1100000000000000007",
                    "name": "guest",
                    "position": 2,
                    "color": 0,
                    "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
                    "icon": None,
                    "unicode_emoji": None,
                }
            ],
        },
    ),
    "thread (docs example)": ("threads", {**THREAD, "guild_id": GUILD_ID}),
    "forum channel": (
        "channels",
        {
            "id": "1100000000000000008",
            "type": 15,
            "guild_id": GUILD_ID,
            "name": "ideas",
            "position": 4,
            "permission_overwrites": [
                {"id": GUILD_ID, "type": 0, "allow": "0", "deny": "2048"},
            ],
            "parent_id": None,
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 16,
            "available_tags": [
                {
                    "id": "1100000000000000009",
                    "name": "bug",
                    "moderated": False,
                    "emoji_id": None,
                    "emoji_name": "🐛",
                }
            ],
            "default_reaction_emoji": {"emoji_id": None, "emoji_name": "👍"},
            "default_sort_order": None,
            "default_forum_layout": 0,
            "default_thread_rate_limit_per_user": 0,
        },
    ),
    "guild (docs example, with the fields its table says are always sent)": ("guilds", GUILD),
    "member (docs example)": (
        "members",
        {
            "user": USER,
            "nick": "NOT API SUPPORT",
            "avatar": None,
            "banner": None,
            "roles": [],
            "joined_at": "2015-04-26T06:26:56.936000+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "premium_since": None,
            "communication_disabled_until": None,
            "guild_id": GUILD_ID,
            "user_id": USER["id"],
        },
    ),
    "guild emoji": (
        "emojis",
        {
            "id": "41771983429993937",
            "name": "LUL",
            "roles": [],
            "user": USER,
            "require_colons": True,
            "managed": False,
            "animated": False,
            "available": True,
            "guild_id": GUILD_ID,
        },
    ),
    "guild sticker (docs example)": (
        "stickers",
        {
            "id": "749054660769218631",
            "name": "Wave",
            "tags": "wumpus, hello, sup, hi, oi, heyo, heya, yo, wave",
            "type": 1,
            "format_type": 3,
            "description": "Wumpus waves hello",
            "asset": "",
            "available": True,
            "guild_id": GUILD_ID,
            "user": USER,
        },
    ),
    "external scheduled event": (
        "scheduled_events",
        {
            "id": "1100000000000000010",
            "guild_id": GUILD_ID,
            "channel_id": None,
            "creator_id": USER["id"],
            "creator": USER,
            "name": "Meetup",
            "description": None,
            "scheduled_start_time": "2024-06-01T18:00:00+00:00",
            "scheduled_end_time": "2024-06-01T20:00:00+00:00",
            "privacy_level": 2,
            "status": 1,
            "entity_type": 3,
            "entity_id": None,
            "entity_metadata": {"location": "Main hall"},
            "user_count": 12,
            "image": None,
            "recurrence_rule": {
                "start": "2024-06-01T18:00:00+00:00",
                "end": None,
                "frequency": 2,
                "interval": 1,
                "by_weekday": [5],
                "by_n_weekday": None,
                "by_month": None,
                "by_month_day": None,
                "by_year_day": None,
                "count": None,
            },
            "guild_scheduled_event_exceptions": [],
        },
    ),
    "audit-log entry: role update with mixed change values": (
        "audit_log",
        {
            "id": "1100000000000000011",
            "action_type": 31,
            "user_id": USER["id"],
            "target_id": "1100000000000000012",
            "reason": "tidy up",
            "changes": [
                {"key": "name", "old_value": "mods", "new_value": "moderators"},
                {"key": "color", "old_value": 0, "new_value": 3447003},
                {"key": "hoist", "old_value": False, "new_value": True},
                {"key": "permissions", "old_value": "0", "new_value": "8"},
                {"key": "$add", "new_value": [{"id": "1100000000000000013", "name": "vip"}]},
                {"key": "icon_hash", "old_value": "abc"},  # reset to null
                {"key": "topic", "new_value": "hi"},  # was null
            ],
            "guild_id": GUILD_ID,
        },
    ),
    "audit-log entry: overwrite update with string options": (
        "audit_log",
        {
            "id": "1100000000000000014",
            "action_type": 14,
            "user_id": None,
            "target_id": None,
            "options": {"id": GUILD_ID, "type": "0", "role_name": "@everyone", "count": "2"},
            "guild_id": GUILD_ID,
        },
    ),
    "current user (docs example)": (
        "current_user",
        {
            "id": "80351110224678912",
            "username": "Nelly",
            "global_name": None,
            "discriminator": "1337",
            "avatar": "8342729096ea3675442027381ff50dfe",
            "verified": True,
            "email": "nelly@discord.com",
            "flags": 64,
            "banner": "06c16474723fe537c283b8efa61a30c8",
            "accent_color": 16711680,
            "premium_type": 0,
            "public_flags": 64,
            "mfa_enabled": False,
            "locale": "en-US",
            "avatar_decoration_data": {
                "sku_id": "1144058844004233369",
                "asset": "a_fed43ab12698df65902ba06727e20c0e",
            },
            "collectibles": {
                "nameplate": {
                    "sku_id": "2247558840304243311",
                    "asset": "nameplates/nameplates/twilight/",
                    "label": "",
                    "palette": "cobalt",
                }
            },
            "primary_guild": {
                "identity_guild_id": "1234647491267808778",
                "identity_enabled": True,
                "tag": "DISC",
                "badge": "7d1734ae5a615e82bc7a4033b98fade8",
            },
        },
    ),
    "user guild (docs example)": (
        "user_guilds",
        {
            "id": "80351110224678912",
            "name": "1337 Krew",
            "icon": "8342729096ea3675442027381ff50dfe",
            "banner": "bb42bdc37653b7cf58c4c8cc622e76cb",
            "owner": True,
            "permissions": "36953089",
            "features": ["COMMUNITY", "NEWS", "ANIMATED_ICON", "INVITE_SPLASH", "BANNER"],
            "approximate_member_count": 3268,
            "approximate_presence_count": 784,
        },
    ),
    "user connection": (
        "user_connections",
        {
            "id": "12345678",
            "name": "nelly",
            "type": "twitch",
            "revoked": False,
            "integrations": [],
            "verified": True,
            "friend_sync": False,
            "show_activity": True,
            "two_way_link": False,
            "visibility": 1,
        },
    ),
    "user guild member": (
        "user_guild_members",
        {
            "user": USER,
            "roles": ["1100000000000000015"],
            "joined_at": None,
            "deaf": False,
            "mute": False,
            "flags": 2,
            "guild_id": GUILD_ID,
            "user_id": USER["id"],
        },
    ),
    "audit-log webhook (docs example, incoming)": (
        "audit_log_webhooks",
        {
            "name": "test webhook",
            "type": 1,
            "channel_id": "199737254929760256",
            "application_id": None,
            "avatar": None,
            "guild_id": "199737254929760256",
            "id": "223704706495545344",
            "user": USER,
        },
    ),
    "audit-log partial integration (docs example)": (
        "audit_log_integrations",
        {
            "id": "33590653072239123",
            "name": "A Name",
            "type": "twitch",
            "account": {"name": "twitchusername", "id": "1234567"},
            "application_id": "94651234501213162",
            "guild_id": GUILD_ID,
        },
    ),
}


@pytest.mark.parametrize("case", sorted(VALID_SAMPLES))
def test_documented_shapes_validate(case: str) -> None:
    stream, record = VALID_SAMPLES[case]
    assert_valid(stream, record)


def changed(record: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A deep copy of `record` with the value at `path` replaced (or deleted for DELETE)."""
    out = copy.deepcopy(record)
    target = out
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


DELETE = object()

INVALID_SAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "message id as a number": ("messages", changed(message(), ("id",), 334385199974967042)),
    "message without its key": ("messages", changed(message(), ("id",), DELETE)),
    "message content null": ("messages", changed(message(), ("content",), None)),
    "message without guild_id": ("messages", changed(message(), ("guild_id",), DELETE)),
    "timestamp not ISO 8601": ("messages", changed(message(), ("timestamp",), "yesterday")),
    "timestamp without an offset": (
        "messages",
        changed(message(), ("timestamp",), "2017-07-11T17:27:07"),
    ),
    "nonce as an object": ("messages", changed(message(), ("nonce",), {"n": 1})),
    "embed color as a hex string": (
        "messages",
        changed(message(), ("embeds",), [{"type": "rich", "color": "#ff0000"}]),
    ),
    "author id as a number": ("messages", changed(message(), ("author", "id"), 1)),
    "permissions as a number": ("roles", changed(role(), ("permissions",), 66321471)),
    "boolean role tag sent as true": (
        "roles",
        changed(role(), ("tags",), {"premium_subscriber": True}),
    ),
    "member key null": (
        "members",
        {"user": USER, "roles": [], "joined_at": TS, "deaf": False, "mute": False, "flags": 0}
        | {"guild_id": GUILD_ID, "user_id": None},
    ),
    "audit-log option value as a number": (
        "audit_log",
        {
            "id": "1",
            "action_type": 72,
            "user_id": None,
            "target_id": None,
            "options": {"count": 2},
            "guild_id": GUILD_ID,
        },
    ),
    "invite without expires_at": ("invites", changed(INVITE, ("expires_at",), DELETE)),
    "thread archive flag as a string": (
        "threads",
        changed({**THREAD, "guild_id": GUILD_ID}, ("thread_metadata", "archived"), "false"),
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_SAMPLES))
def test_wrong_shapes_are_rejected(case: str) -> None:
    stream, record = INVALID_SAMPLES[case]
    assert errors(stream, record), f"{case} should not validate"


# --- 4. the emulator's world and the tap's own output ----------------------------------

#: World attribute (guild id → list of API objects) behind each guild-level stream.
WORLD_LISTS = {
    "channels": "channels",
    "threads": "threads",
    "members": "members",
    "invites": "invites",
    "roles": "roles",
    "emojis": "emojis",
    "stickers": "stickers",
    "scheduled_events": "scheduled_events",
    "audit_log": "audit_log",
}
#: Objects an audit log references (`world.audit_refs[guild].objects[kind]`) → schema.
AUDIT_REFS = {
    "users": "audit_log_users",
    "webhooks": "audit_log_webhooks",
    "integrations": "audit_log_integrations",
    "threads": "audit_log_threads",
    "guild_scheduled_events": "scheduled_events",
}


def world_records(world: Any) -> dict[str, list[dict[str, Any]]]:
    """Every object of the world as the tap would emit it, by the schema it must fit.

    The tap adds `guild_id` to guild-level objects (and the SDK adds it to guilds, from
    the partition), and `user_id` to members. Lists the emulator does not model yet
    are simply absent.
    """
    out: dict[str, list[dict[str, Any]]] = {
        "guilds": [{**guild, "guild_id": guild["id"]} for guild in world.guilds],
        "current_user": [world.bot_user, *world.users],
    }
    for stream, attr in WORLD_LISTS.items():
        for guild_id, items in (getattr(world, attr, None) or {}).items():
            for obj in items:
                record = {"guild_id": guild_id, **obj}
                if stream == "members":
                    record["user_id"] = obj["user"]["id"]
                out.setdefault(stream, []).append(record)
    guild_of = {
        str(channel["id"]): guild_id
        for source in (world.channels, world.threads)
        for guild_id, channels in source.items()
        for channel in channels
    }
    for channel_id in world.messages:
        for obj in world.messages[channel_id]:
            record = gather_extras({**obj, "guild_id": guild_of[str(channel_id)]})
            out.setdefault("messages", []).append(record)
    for guild_id, refs in (getattr(world, "audit_refs", None) or {}).items():
        for kind, stream in AUDIT_REFS.items():
            for obj in refs.objects.get(kind, {}).values():
                # Users are global; the other referenced objects belong to the guild.
                added = {} if kind == "users" else {"guild_id": guild_id}
                out.setdefault(f"{stream} (audit ref)", []).append({**added, **obj})
    for guild_id, hooks in (getattr(world, "webhooks", None) or {}).items():
        for obj in hooks:
            out.setdefault("audit_log_webhooks", []).append({"guild_id": guild_id, **obj})
    if getattr(world, "guild_rest", None) is not None:
        from tests.guildrest_truth import expected

        for stream, rows in expected(world).items():
            out.setdefault(stream, []).extend(rows)
    return out


def schema_of(label: str) -> str:
    return label.removesuffix(" (audit ref)")


@pytest.fixture(scope="module")
def world() -> Any:
    from tests.emulator import World, WorldSpec

    return World(WorldSpec.small())


@pytest.fixture(scope="module")
def records(world: Any) -> dict[str, list[dict[str, Any]]]:
    return world_records(world)


def test_emulator_world_has_every_core_stream(records: dict[str, list[Any]]) -> None:
    core = {"guilds", "channels", "threads", "messages", "members", "invites", "roles"}
    assert core <= {label for label, items in records.items() if items}


@pytest.mark.parametrize(
    "stream", [*ALL_STREAMS, *(f"{s} (audit ref)" for s in AUDIT_REFS.values())]
)
def test_every_emulator_object_validates(records: dict[str, list[Any]], stream: str) -> None:
    if not records.get(stream):
        pytest.skip(f"the emulator has no {stream} objects")
    for record in records[stream]:
        assert_valid(schema_of(stream), record)


#: Fields the emulator sends that Discord's reference (the docs' object tables, the OpenAPI
#: spec) does not document. They validate (objects are open), but a top-level
#: one has no column, so they are listed here until the emulator drops them; any other
#: undeclared field fails the test below. Message components are open by design.
UNDOCUMENTED_IN_EMULATOR = (
    "*/display_name_styles",  # users
    "*/banner_color",
    "*/clan",
    "/display_name_styles",
    "/banner_color",
    "/clan",
    "*/reactions/[]/burst_me",
    "*/reactions/[]/burst_count",
    "*/attachments/[]/content_scan_version",
    "*/embeds/[]/content_scan_version",
    "*/interaction_metadata/name",
    "*/interaction_metadata/command_type",
    "/interaction_metadata/name",
    "/interaction_metadata/command_type",
    "roles:/description",
    "guilds:/roles/[]/description",
    "stickers:/asset",
    "guilds:/stickers/[]/asset",
    "scheduled_events:/sponsor_id",
)


def undeclared(value: Any, schema: dict[str, Any], path: str) -> Iterator[str]:
    """Paths of keys in `value` that `schema` does not declare (open objects excepted)."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                yield from undeclared(item, props[key], f"{path}/{key}")
            elif isinstance(extra, dict):
                yield from undeclared(item, extra, f"{path}/{{}}")
            elif props and "/components" not in path:
                yield f"{path}/{key}"
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            yield from undeclared(item, schema["items"], f"{path}/[]")


def is_known_gap(stream: str, path: str) -> bool:
    path = path.removeprefix("/referenced_message")
    return any(
        fnmatch.fnmatchcase(f"{stream}:{path}", pattern)
        if ":" in pattern
        else fnmatch.fnmatchcase(path, pattern)
        for pattern in UNDOCUMENTED_IN_EMULATOR
    )


def test_emulator_sends_no_field_the_schemas_lack(records: dict[str, list[Any]]) -> None:
    found: dict[str, set[str]] = {}
    for label, items in records.items():
        stream = schema_of(label)
        for record in items:
            for path in undeclared(record, schemas.STREAM_SCHEMAS[stream], ""):
                if not is_known_gap(stream, path):
                    found.setdefault(label, set()).add(path)
    assert not found, found


def test_emulator_served_bodies() -> None:
    """Bodies of routes whose objects the world does not hold as such (bot token)."""
    import requests

    from tests.emulator import Emulator, WorldSpec

    token = "schema-test-bot-token"
    with Emulator(WorldSpec.small(), bot_token=token) as emu:
        session = requests.Session()
        session.headers["Authorization"] = f"Bot {token}"

        def get(path: str, **params: Any) -> Any:
            response = session.get(emu.api_url + path, params=params, timeout=10)
            assert response.status_code == 200, (path, response.status_code, response.text)
            return response.json()

        user_guilds = get("/users/@me/guilds", with_counts="true")
        assert user_guilds
        for guild in user_guilds:
            assert_valid("user_guilds", guild)
            assert "approximate_member_count" in guild
            full = get(f"/guilds/{guild['id']}", with_counts="true")
            assert_valid("guilds", {**full, "guild_id": full["id"]})
        assert_valid("current_user", get("/users/@me"))


@pytest.fixture(scope="module")
def tap_run() -> Any:
    from tests.emulator import Emulator, WorldSpec
    from tests.tapharness import run_tap

    token = "schema-test-bot-token"
    with Emulator(WorldSpec.small(), bot_token=token) as emu:
        run = run_tap({"bot_token": token, "api_url": emu.api_url})
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def test_every_record_the_tap_emits_matches_its_schema(tap_run: Any) -> None:
    """End to end: Singer SCHEMA messages are these schemas, and every RECORD fits."""
    streams = tap_run.streams()
    assert {"guilds", "channels", "threads", "messages", "members", "invites"} <= streams
    for stream in sorted(streams):
        announced = tap_run.schema(stream)
        assert announced["schema"] == schemas.STREAM_SCHEMAS[stream], stream
        assert tuple(announced["key_properties"]) == schemas.PRIMARY_KEYS[stream]
        for record in tap_run.records(stream):
            assert_valid(stream, record)
