"""Tombstones: how an incremental stream tells the target that a row is gone.

Full-table streams mark rows deleted with Singer's ``ACTIVATE_VERSION`` (the target
soft-deletes every row of an older table version). Streams that re-read only part of
what they hold (messages inside ``message_lookback``, a channel's pins, a message's
reactions or poll votes) cannot: a table version covers the whole table. They emit a
tombstone instead: a RECORD with the row's key (and parent ids), no other field, and
``_sdc_deleted_at`` set to when the tap found the row gone. target-postgres keeps that
value (its record metadata copies a record's own ``_sdc_deleted_at``), and its upsert
empties the row's other columns. https://sdk.meltano.com/en/latest/implementation/record_metadata.html
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


def tombstone(key: t.Mapping[str, t.Any], deleted_at: dt.datetime) -> dict[str, t.Any]:
    """The record that marks the row with this key deleted at `deleted_at`."""
    return {**key, DELETED_AT: deleted_at.astimezone(dt.timezone.utc).isoformat()}


def is_tombstone(record: t.Mapping[str, t.Any]) -> bool:
    """Whether a record marks a deletion rather than carrying Discord's object."""
    return record.get(DELETED_AT) is not None
