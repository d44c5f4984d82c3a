"""A cheap check that each object Discord sends fits the stream's schema at the top level.

Discord changes objects without a new API version, and a proxy or a bug can hand over
an object with a field of the wrong type or without its id. Full JSON Schema validation
per record would cost more than the rest of the tap, so this checks what decides
whether a target can load the record: the top-level keys and the JSON type of each
top-level value (one dict lookup and one type test per field).

* A field the schema does not know: kept (every schema allows additional properties),
  one WARNING per stream and field.
* A field of the wrong type, or a required one missing: null when the schema allows
  null (absent when it is optional and not nullable), one WARNING per stream and field
  naming the first record.
* Anything that leaves the record invalid (a missing or malformed primary key, a
  required non-null field of the wrong type): the run stops with one line naming the
  stream, the record and the field, so no invalid record reaches the target. STATE
  already emitted stays valid; the next run resumes from it.

Nested values are not checked: nested objects are stored as JSON documents.
"""

from __future__ import annotations

import logging
import threading
import typing as t

from tap_discord.errors import UserFacingError
from tap_discord.tombstones import always_present, is_tombstone

#: Python types of parsed JSON values, by JSON Schema type (bool is not an integer).
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}
ADDED_BY_TAP = "Added by the tap"
#: How many shapes of valid rows `RecordCheck` remembers (then it starts afresh).
GOOD_SHAPES_KEPT = 4096


class MalformedRecordError(UserFacingError):
    """Discord sent an object that cannot be made valid for the stream's schema."""


class RecordCheck:
    """The top-level shape of one stream's records, precomputed from its schema."""

    def __init__(
        self,
        stream: str,
        schema: t.Mapping[str, t.Any],
        keys: t.Sequence[str],
        logger: logging.Logger,
    ) -> None:
        """Precompute allowed types per field, required fields and the key fields."""
        self.stream = stream
        self.logger = logger
        props: t.Mapping[str, t.Any] = schema.get("properties") or {}
        self.known = frozenset(props)
        self.types = {
            name: frozenset(allowed)
            for name, prop in props.items()
            if (allowed := _allowed_types(prop))
        }
        # Fields the tap adds itself (guild_id, user_id) are not Discord's to send.
        from_discord = {
            name
            for name, prop in props.items()
            if not str(prop.get("description") or "").startswith(ADDED_BY_TAP)
        }
        # A stream with tombstones keeps its live records' fields under `anyOf`.
        self.required = frozenset(always_present(schema)) & from_discord
        self.keys = tuple(key for key in keys if key in from_discord)
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        # Keys and value types of rows that passed unchanged: most rows share a few
        # shapes, and one set lookup replaces a lookup and a test per field.
        self._good_shapes: set[tuple[t.Any, ...]] = set()

    def check(self, row: t.Any, where: str) -> dict[str, t.Any]:
        """The row, valid at the top level; `where` (the request path) names its source."""
        if not isinstance(row, dict):
            raise self._fatal(None, "", f"is a {type(row).__name__}, not an object", where)
        for key in self.keys:
            value = row.get(key)
            if type(value) is not str or not value:
                raise self._fatal(row, key, _described(row, key), where)
        shape = (*row, *map(type, row.values()))
        if shape in self._good_shapes:
            return row
        if self._repairs(row, where):
            return row
        if len(self._good_shapes) >= GOOD_SHAPES_KEPT:
            self._good_shapes.clear()
        self._good_shapes.add(shape)
        return row

    def _repairs(self, row: dict[str, t.Any], where: str) -> bool:
        """Check each field of a row of a new shape; repair it; whether anything changed.

        A tombstone (`tombstones.py`) lacks the fields a live record always has: only
        its keys, checked by `check`, are required of it.
        """
        if is_tombstone(row):
            return False
        repaired = False
        if not self.required <= row.keys():
            for name in sorted(self.required - row.keys()):
                self._repair(row, name, where)
            repaired = True
        types, known = self.types, self.known
        bad: list[str] | None = None
        for name, value in row.items():
            allowed = types.get(name)
            if allowed is None:
                if name not in known and name not in self._warned:
                    self._warn(name, self._unknown_message(name, row, where))
            elif type(value) not in allowed:  # parsed JSON has exact types
                bad = [*bad, name] if bad else [name]
        for name in bad or ():
            self._repair(row, name, where)
        return repaired or bad is not None

    def _unknown_message(self, name: str, row: dict[str, t.Any], where: str) -> str:
        """The warning for a field the schema does not list."""
        return (
            f"{self.stream} record {_record_id(row)} from GET {where} has a field the schema "
            f"does not list, {name!r}: passed on unchanged (reported once per field; "
            "tap-discord may need a schema update)"
        )

    def _repair(self, row: dict[str, t.Any], name: str, where: str) -> None:
        """Null (or drop) a missing or mistyped field, or stop when the schema forbids it."""
        allowed = tuple(self.types.get(name, ()))
        found = _described(row, name)
        if type(None) in allowed:
            row[name] = None
            action = "wrote null instead"
        elif name not in self.required:
            row.pop(name, None)
            action = "left it out"
        else:
            raise self._fatal(row, name, found, where)
        if name not in self._warned:
            self._warn(
                name,
                f"{self.stream} record {_record_id(row)} from GET {where}: {name} {found}, "
                f"but the schema says {_type_names(allowed)}; {action} (reported once per "
                "field; please report this change of Discord's API to tap-discord)",
            )

    def _warn(self, name: str, message: str) -> None:
        """Log a warning once per field and stream (worker threads may race)."""
        with self._lock:
            if name in self._warned:
                return
            self._warned.add(name)
        self.logger.warning("%s", message)

    def _fatal(
        self, row: dict[str, t.Any] | None, name: str, found: str, where: str
    ) -> MalformedRecordError:
        """The one-line error that stops the run before an invalid record is written."""
        what = f"record {_record_id(row)}" if row is not None else "an item"
        field = f"{name} " if name else ""
        return MalformedRecordError(
            f"{self.stream}: Discord sent {what} from GET {where} whose {field}{found}, "
            "which the schema does not allow; stopping so that no invalid record reaches "
            "the target (the next run resumes from the saved state). Please report this "
            "to tap-discord"
        )


def _allowed_types(prop: t.Mapping[str, t.Any]) -> tuple[type, ...]:
    """Python types a property's JSON `type` allows; () when it is not a plain type list."""
    kind = prop.get("type")
    names = [kind] if isinstance(kind, str) else kind
    if not isinstance(names, list) or not names or "anyOf" in prop:
        return ()
    allowed: tuple[type, ...] = ()
    for name in names:
        if name not in JSON_TYPES:
            return ()
        allowed += JSON_TYPES[name]
    return tuple(dict.fromkeys(allowed))


def _described(row: t.Mapping[str, t.Any], name: str) -> str:
    """`is missing`, or `is 'yes' (str)`, short and without the whole value."""
    if name not in row:
        return "is missing"
    value = row[name]
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return f"is {shown} ({type(value).__name__})"


def _record_id(row: t.Mapping[str, t.Any] | None) -> str:
    """The record's id for a message, or `without an id`."""
    value = (row or {}).get("id")
    return repr(value) if isinstance(value, str) and value else "without an id"


def _type_names(allowed: tuple[type, ...]) -> str:
    """JSON type names for a tuple of Python types."""
    names = [name for name, types in JSON_TYPES.items() if set(types) <= set(allowed)]
    return " or ".join(names) or "something else"
