"""Users interested in a scheduled event (its RSVPs).

https://discord.com/developers/docs/resources/guild-scheduled-event#guild-scheduled-event-user-object

``GET /guilds/{id}/scheduled-events/{event}/users?with_member=true`` per event; ``member``
comes when the user is still a member of the guild. A user no longer listed is a
tombstone: the key, ``guild_id`` and ``_sdc_deleted_at``.
"""

from __future__ import annotations

from tap_discord.schemas.common import MEMBER, USER
from tap_discord.schemas.fields import (
    GUILD_ID,
    SNOWFLAKE,
    Fields,
    added,
    always,
    field,
    record,
)
from tap_discord.tombstones import with_tombstones

EVENT_USER_FIELDS: Fields = (
    always("guild_scheduled_event_id", SNOWFLAKE),
    always("user", USER),
    field("member", MEMBER),
)

SCHEDULED_EVENT_USERS_KEYS = ("guild_scheduled_event_id", "user_id")
#: A withdrawn RSVP is a tombstone: these and `_sdc_deleted_at` (listings.py).
SCHEDULED_EVENT_USER_TOMBSTONE_FIELDS = (*SCHEDULED_EVENT_USERS_KEYS, "guild_id")
SCHEDULED_EVENT_USERS_SCHEMA = with_tombstones(
    record(
        EVENT_USER_FIELDS,
        (GUILD_ID, added("user_id", "id of the interested user, copied from user.id")),
    ),
    SCHEDULED_EVENT_USER_TOMBSTONE_FIELDS,
)
