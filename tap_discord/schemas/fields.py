"""Building blocks for every schema: Discord's primitive types and three field constructors.

Objects are written once, in the order and with the presence rules of Discord's own
tables (each schema module links its page), using three constructors that mirror the
docs' notation:

* ``always(name, kind)`` is ``name | type``: the key is always sent and never null;
* ``always_nullable(name, kind)`` is ``name | ?type``: always sent, may be null;
* ``field(name, kind)`` is ``name?``: the key may be absent (and, as the SDK does for
  every optional property, may then also be null).

A field is written with ``always`` only when both Discord's docs and its OpenAPI spec
(https://github.com/discord/discord-api-spec) say it is always sent, and it is nullable
as soon as either source says it can be null.
Where they disagree, the looser reading wins: a schema too strict for a real response
fails the whole load under target-side validation.

Those rules apply at the top level of a stream's record (``record``). Inside a nested
object (``nested``) every field is optional: Discord sends nested objects in many
partial forms (webhook authors, partial guilds and channels in invites, partial members
in interactions, the "minimal subset" message of a forward), and nested objects are
stored as JSON documents anyway, so requiring keys there would only turn a harmless
omission into a failed load. Their types stay exact.

Every object allows additional properties: Discord adds fields without a new API
version, and a closed schema would reject records the day it does.
"""

from __future__ import annotations

import json
import typing as t

from singer_sdk import typing as th

#: Snowflake ids: 64-bit integers that Discord sends as decimal strings
#: (https://discord.com/developers/docs/reference#snowflakes).
SNOWFLAKE = th.StringType()
#: Permission bitsets exceed 53 bits and are sent as decimal strings
#: (https://discord.com/developers/docs/topics/permissions).
PERMISSIONS = th.StringType()
#: ISO 8601 timestamps such as ``2017-07-11T17:27:07.299000+00:00``.
TIMESTAMP = th.DateTimeType()
STRING = th.StringType()
#: Counts, enums, flags and colors. No bounds on purpose: target-postgres then picks
#: BIGINT, and a column type can never be changed once the table exists.
INTEGER = th.IntegerType()
NUMBER = th.DecimalType()
BOOLEAN = th.BooleanType()
#: Role tags such as ``premium_subscriber`` mean "true" by being present with ``null``.
NULL = th.NullType()
#: Any JSON value at all, for fields whose type genuinely varies (audit-log values).
ANY_JSON = th.AnyType()
#: A message ``nonce``: Discord echoes whatever the sender chose, an integer or a string.
INTEGER_OR_STRING = th.CustomType({"type": ["integer", "string"]})

Fields = tuple["th.Property[t.Any]", ...]


def always(name: str, kind: t.Any, description: str | None = None) -> th.Property[t.Any]:
    """``name | type``: always present, never null."""
    return th.Property(name, kind, required=True, description=description)


def always_nullable(name: str, kind: t.Any, description: str | None = None) -> th.Property[t.Any]:
    """``name | ?type``: always present, may be null."""
    return th.Property(name, kind, required=True, nullable=True, description=description)


def field(name: str, kind: t.Any, description: str | None = None) -> th.Property[t.Any]:
    """``name?`` (or ``name? | ?type``): may be absent, and may be null."""
    return th.Property(name, kind, description=description)


def array(kind: t.Any) -> th.ArrayType[t.Any]:
    """A JSON array of ``kind``."""
    return th.ArrayType(kind)


def map_of(kind: t.Any) -> th.ObjectType:
    """An object used as a dictionary: arbitrary keys (often snowflakes) to ``kind``."""
    return th.ObjectType(additional_properties=kind)


def optional(prop: th.Property[t.Any]) -> th.Property[t.Any]:
    """The same property, but allowed to be absent or null (used inside nested objects)."""
    return th.Property(prop.name, prop.wrapped, description=prop.description)


def merge(*groups: Fields) -> Fields:
    """Concatenate field lists; a later field replaces an earlier one of the same name.

    This is how a stream adds ``guild_id`` to an object, or makes a field that is
    optional in general (``member.user``) required in its own records. A replaced field
    keeps its place, so properties stay in the order of Discord's table.
    """
    by_name: dict[str, th.Property[t.Any]] = {}
    for group in groups:
        for prop in group:
            by_name[prop.name] = prop
    return tuple(by_name.values())


def nested(*props: th.Property[t.Any]) -> th.CustomType:
    """An object inside a record: exact types, every key optional, extra keys allowed.

    Its JSON Schema is built here, once: objects such as the user or the message recur
    hundreds of times across the schemas, and the SDK would rebuild each occurrence
    (the messages schema alone took a tenth of a second, at every start of the tap).
    """
    built = th.ObjectType(*(optional(prop) for prop in props), additional_properties=True)
    return th.CustomType(built.to_dict())


def record(*groups: Fields) -> dict[str, t.Any]:
    """A stream's record schema: the presence rules of the fields as written.

    A deep copy (through JSON, the fastest way for plain data): the nested objects'
    schemas are shared, and each stream owns its own.
    """
    schema = th.PropertiesList(*merge(*groups), additional_properties=True).to_dict()
    return t.cast("dict[str, t.Any]", json.loads(json.dumps(schema)))


def added(name: str, what: str) -> th.Property[t.Any]:
    """A non-null id the tap adds to Discord's object (e.g. the ``guild_id`` of a role)."""
    return always(name, SNOWFLAKE, description=f"Added by the tap: {what}.")


#: ``guild_id`` on every guild-level record; Discord omits it from most list items.
GUILD_ID = added("guild_id", "id of the guild the record belongs to, where Discord omits it")
