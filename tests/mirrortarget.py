"""A target that applies Singer output the way target-postgres 0.8.1 does, in memory.

What matters for deletions (target-postgres `sinks.py` and the SDK sink's record
metadata, read from the installed releases):

* a RECORD upserts its row by the stream's key, replacing every column: fields the
  record lacks become null (a tombstone empties the row); `_sdc_table_version` is the
  message's `version`, `_sdc_deleted_at` the record's own value (or null);
* `ACTIVATE_VERSION` marks deleted (`_sdc_deleted_at` = now) every row of the table
  whose version is null or older and that is not marked yet; with `hard_delete` it
  deletes them; a table that does not exist yet is left alone.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from collections.abc import Iterable

Key = tuple[str, ...]
DELETED_AT = "_sdc_deleted_at"
VERSION = "_sdc_table_version"


@dataclass
class MirrorTarget:
    """Tables by stream: key -> row (with `_sdc_deleted_at` and `_sdc_table_version`)."""

    hard_delete: bool = False
    tables: dict[str, dict[Key, dict[str, t.Any]]] = field(default_factory=dict)
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    activations: list[tuple[str, int]] = field(default_factory=list)

    def load(self, messages: Iterable[dict[str, t.Any]]) -> MirrorTarget:
        """Apply one run's Singer messages, in order."""
        for message in messages:
            kind = message.get("type")
            if kind == "SCHEMA":
                self.keys[message["stream"]] = tuple(message["key_properties"])
            elif kind == "RECORD":
                self._upsert(message)
            elif kind == "ACTIVATE_VERSION":
                self._activate(message["stream"], int(message["version"]))
        return self

    def _upsert(self, message: dict[str, t.Any]) -> None:
        stream, record = message["stream"], message["record"]
        key = tuple(str(record[k]) for k in self.keys[stream])
        row = {**record, DELETED_AT: record.get(DELETED_AT), VERSION: message.get("version")}
        self.tables.setdefault(stream, {})[key] = row

    def _activate(self, stream: str, version: int) -> None:
        self.activations.append((stream, version))
        table = self.tables.get(stream)
        if table is None:
            return
        now = dt.datetime.now(dt.timezone.utc).isoformat()
        for key, row in list(table.items()):
            if row[VERSION] is None or row[VERSION] < version:
                if self.hard_delete:
                    del table[key]
                elif row[DELETED_AT] is None:
                    row[DELETED_AT] = now

    def live(self, stream: str) -> set[Key]:
        """Keys of the rows not marked deleted."""
        return {k for k, row in self.tables.get(stream, {}).items() if row[DELETED_AT] is None}

    def deleted(self, stream: str) -> set[Key]:
        """Keys of the rows marked deleted."""
        return {k for k, row in self.tables.get(stream, {}).items() if row[DELETED_AT] is not None}
