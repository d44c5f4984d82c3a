"""Members of a thread.

https://discord.com/developers/docs/resources/channel#thread-member-object

``GET /channels/{thread}/thread-members?with_member=true`` per thread (the Server
Members intent). ``id`` and ``user_id`` are optional in Discord's table (left out only
in gateway events); the tap sets both keys itself, ``thread_id`` from the thread it
read. ``join_timestamp`` is the user's latest join. A member who left is a tombstone:
the key, ``guild_id`` and ``_sdc_deleted_at``.
"""

from __future__ import annotations

from tap_discord.schemas.common import MEMBER
from tap_discord.schemas.fields import (
    GUILD_ID,
    INTEGER,
    SNOWFLAKE,
    TIMESTAMP,
    Fields,
    added,
    always,
    field,
    record,
)
from tap_discord.tombstones import with_tombstones

THREAD_MEMBER_FIELDS: Fields = (
    field("id", SNOWFLAKE),
    always("join_timestamp", TIMESTAMP),
    always("flags", INTEGER),
    field("member", MEMBER),
)

THREAD_MEMBERS_KEYS = ("thread_id", "user_id")
#: A member who left is a tombstone: these and `_sdc_deleted_at` (listings.py).
THREAD_MEMBER_TOMBSTONE_FIELDS = (*THREAD_MEMBERS_KEYS, "guild_id")
THREAD_MEMBERS_SCHEMA = with_tombstones(
    record(
        THREAD_MEMBER_FIELDS,
        (
            added("thread_id", "id of the thread the member belongs to"),
            added("user_id", "id of the member's user"),
            GUILD_ID,
        ),
    ),
    THREAD_MEMBER_TOMBSTONE_FIELDS,
)
