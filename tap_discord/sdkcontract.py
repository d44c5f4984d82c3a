"""Every private singer-sdk name tap-discord relies on, in one place.

The SDK's public hooks the tap implements carry `@override` (mypy's `explicit-override`
is on, so a hook renamed or dropped upstream fails the type check). What no public hook
offers, the tap takes from the SDK's private parts, listed here:

* `PRIVATE_IMPORTS`: names imported from private SDK modules. They are re-exported
  below, and the rest of the tap imports them from this module, never from the SDK.
* `PRIVATE_MEMBERS`: private methods the tap overrides or calls, and private attributes
  it reads or sets, on SDK classes, with the parameter names it expects of a method
  and the SDK methods that must still use a hook the tap overrides.

The contract was checked against singer-sdk 0.54.9 (`CHECKED_SDK_VERSION`), and
pyproject.toml pins `singer-sdk~=0.54.9`: patch releases only. `tests/test_sdkcontract.py`
fails, naming the installed singer-sdk version, when a listed name is missing, its
parameter names differ, or an SDK method no longer uses a hook the tap overrides. Before
widening the pin, run that test against the new release and read the SDK's changes to
each name listed here.
"""

from __future__ import annotations

import typing as t

from singer_sdk import Tap
from singer_sdk.helpers._state import StateWriter
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers._util import utc_now
from singer_sdk.plugin_base import PluginBase
from singer_sdk.streams import RESTStream, Stream

__all__ = [
    "CHECKED_SDK_VERSION",
    "PRIVATE_IMPORTS",
    "PRIVATE_MEMBERS",
    "PrivateImport",
    "PrivateMember",
    "StateWriter",
    "conform_record_data_types",
    "utc_now",
]

#: The singer-sdk release this contract was last checked against.
CHECKED_SDK_VERSION = "0.54.9"


class PrivateImport(t.NamedTuple):
    """A name the tap imports from a private singer-sdk module."""

    module: str
    name: str
    #: Parameter names of the function, or of the class's `__init__`.
    parameters: tuple[str, ...]
    why: str


class PrivateMember(t.NamedTuple):
    """A private method or attribute of an SDK class that the tap depends on."""

    owner: type
    name: str
    #: Parameter names of the method (`self` first); None for an attribute.
    parameters: tuple[str, ...] | None
    why: str
    #: SDK methods (`Class.method` of `owner`'s classes) that must still use the name:
    #: an override nobody calls would silently do nothing.
    used_by: tuple[str, ...] = ()


PRIVATE_IMPORTS: tuple[PrivateImport, ...] = (
    PrivateImport(
        "singer_sdk.helpers._state",
        "StateWriter",
        ("self", "message_writer"),
        "Base of `writer.JsonStateWriter`, which the tap installs as the Tap's STATE "
        "writer; there is no public way to change how the SDK tells a changed state.",
    ),
    PrivateImport(
        "singer_sdk.helpers._typing",
        "conform_record_data_types",
        ("stream_name", "record", "schema", "level", "logger"),
        "The SDK's type conformance of a record, called by "
        "`DiscordStream._generate_record_messages` exactly as the SDK's own method does.",
    ),
    PrivateImport(
        "singer_sdk.helpers._util",
        "utc_now",
        (),
        "The SDK's clock for `time_extracted`, so that records of prefetched pages carry "
        "the same kind of timestamp as the SDK's own (`client.py`, `prefetch.py`).",
    ),
)

PRIVATE_MEMBERS: tuple[PrivateMember, ...] = (
    PrivateMember(
        Stream,
        "_generate_record_messages",
        ("self", "record"),
        "Overridden by `DiscordStream`: the RECORD messages of a record without the SDK's "
        "deselection walk when nothing is deselected, with the page's `time_extracted`; "
        "it calls the SDK's method when the catalog deselects properties.",
        used_by=("Stream._write_record_message",),
    ),
    PrivateMember(
        Stream,
        "_increment_stream_state",
        ("self", "latest_record", "context"),
        "Overridden by `MessagesStream`: a channel's bookmark moves right after the SDK "
        "has written the record it names, and before the SDK writes a STATE; it calls "
        "the SDK's method when its own shortcut does not apply. Overridden by "
        "`MessageFollowerStream` (pins, reactions, poll votes) to keep no SDK bookmark: "
        "they are INCREMENTAL without a replication key.",
        used_by=("Stream._sync_records",),
    ),
    PrivateMember(
        PluginBase,
        "_handle_termination",
        ("self", "signum", "frame"),
        "Overridden by `TapDiscord`: the SDK's SIGTERM/SIGINT handler (last STATE, exit "
        "0), deferred while the writer hands a block over.",
        used_by=("PluginBase._setup_signal_handlers",),
    ),
    PrivateMember(
        RESTStream,
        "_write_request_duration_log",
        ("self", "endpoint", "response", "context", "extra_tags"),
        "Called by `DiscordStream.fetch_pages`: the SDK's request-duration metric of "
        "each page a worker thread fetches outside the SDK's request loop.",
    ),
    PrivateMember(
        Stream,
        "_tap",
        None,
        "Read by `DiscordStream.discord_tap`: the tap that owns the limiter, the "
        "authenticator and the caches every stream shares.",
    ),
    PrivateMember(
        Stream,
        "_stream_version",
        None,
        "Read by `DiscordStream._generate_record_messages`: the `version` of the RECORD "
        "messages it builds, as the SDK's method sets it; set by `DiscordStream.__init__` "
        "to the run's table version for streams that mirror deletions (mirror.py).",
        used_by=("Stream._generate_record_messages",),
    ),
    PrivateMember(
        Stream,
        "_write_activate_version_message",
        ("self", "full_table_version"),
        "Called by `DiscordStream.activate_version`: the SDK's ACTIVATE_VERSION message "
        "for each of the stream's maps, written once per stream after a complete run "
        "instead of at the start of every partition (mirror.py).",
    ),
    PrivateMember(
        RESTStream,
        "_requests_session",
        None,
        "Set by `DiscordStream.requests_session` to a `DiscordSession` before the SDK's "
        "property returns it, so the stream's session is the tap's own kind.",
    ),
    PrivateMember(
        Tap,
        "_state_writer",
        None,
        "Set by `TapDiscord.__init__` to a `JsonStateWriter`: the SDK writes every STATE "
        "through it (`Tap.state_writer`).",
        used_by=("Tap.state_writer",),
    ),
    PrivateMember(
        StateWriter,
        "_message_writer",
        None,
        "Read by `JsonStateWriter.write_state`: the writer a changed STATE goes to.",
    ),
    PrivateMember(
        StateWriter,
        "_last_emitted_state",
        None,
        "Reset by `JsonStateWriter.write_state` after each STATE it writes itself, so "
        "that the SDK's comparison, when it is used, never skips the next STATE.",
        used_by=("StateWriter.write_state",),
    ),
)
