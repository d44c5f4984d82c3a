"""Tombstones: how an incremental stream tells the target that a row is gone.

Full-table streams mark rows deleted with Singer's ``ACTIVATE_VERSION`` (the target
soft-deletes every row of an older table version). Streams that re-read only part of
what they hold (messages inside ``message_lookback``, a channel's pins, a message's
reactions or poll votes) cannot: a table version covers the whole table. They emit a
tombstone instead: a RECORD with the row's key (and parent ids), no other field, and
``_sdc_deleted_at`` set to when the tap found the row gone. target-postgres keeps that
value (its record metadata copies a record's own ``_sdc_deleted_at``), and its upsert
empties the row's other columns. https://sdk.meltano.com/en/latest/implementation/record_metadata.html

A tombstone lacks fields every live record has, so the schema of such a stream says
"a live record, or a tombstone" (`with_tombstones`): a target that validates records
accepts both, and the tap's own record check reads the live record's fields from it
(`always_present`).
"""

from __future__ import annotations

import datetime as dt
import typing as t

from singer_sdk import typing as th

#: The record field that marks a row deleted, as the target's own metadata names it.
DELETED_AT = "_sdc_deleted_at"

#: The schema property every stream that may emit tombstones declares.
DELETED_AT_PROPERTY = th.Property(
    DELETED_AT,
    th.DateTimeType(),
    description="When the tap found this row gone from Discord; null while it exists.",
)


def with_tombstones(schema: dict[str, t.Any], keys: t.Sequence[str]) -> dict[str, t.Any]:
    """`schema` for records that are Discord's objects or tombstones of them.

    `keys`: the fields a tombstone carries (the key and parent ids), which stay
    required. The others of `required` move into `anyOf`: either all of them, or
    `_sdc_deleted_at` set. The schema declares `_sdc_deleted_at`.
    """
    required = list(schema.get("required") or ())
    deleted_at = DELETED_AT_PROPERTY.to_dict()[DELETED_AT]
    set_deleted_at = {k: v for k, v in deleted_at.items() if k != "type"} | {"type": "string"}
    return {
        **schema,
        "properties": {**schema["properties"], DELETED_AT: deleted_at},
        "required": [name for name in required if name in keys],
        "anyOf": [
            {"required": required},
            {"required": [DELETED_AT], "properties": {DELETED_AT: set_deleted_at}},
        ],
    }


def always_present(schema: t.Mapping[str, t.Any]) -> list[str]:
    """The fields every live record of `schema` has (see `with_tombstones`)."""
    live = (schema.get("anyOf") or [schema])[0]
    return list(live.get("required") or ())


def tombstone(key: t.Mapping[str, t.Any], deleted_at: dt.datetime) -> dict[str, t.Any]:
    """The record that marks the row with this key deleted at `deleted_at`."""
    return {**key, DELETED_AT: deleted_at.astimezone(dt.timezone.utc).isoformat()}


def is_tombstone(record: t.Mapping[str, t.Any]) -> bool:
    """Whether a record marks a deletion rather than carrying Discord's object."""
    return record.get(DELETED_AT) is not None
