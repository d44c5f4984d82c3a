"""Checks of the run's inputs (state and catalog) before any request or output.

A damaged state or a catalog naming a stream the tap does not have would otherwise
surface deep inside a sync as a traceback, or not at all (the SDK silently ignores
unknown catalog entries, so a selected stream would quietly produce nothing). Each
check returns one line per problem naming what is wrong and what to do.
"""

from __future__ import annotations

import io
import json
import typing as t

from tap_discord.errors import UserFacingError
from tap_discord.snowflake import is_snowflake
from tap_discord.streams.messages import BOOKMARKS_KEY

#: The stream whose per-channel bookmarks are checked (layout: see streams/messages.py).
MESSAGES = "messages"
START_OVER = (
    "fix or delete that entry (meltano state set/clear), or rerun with --full-refresh "
    "to read everything again"
)


def checked_json_file(handle: t.IO[str] | None, what: str) -> t.IO[str] | None:
    """The file again (re-readable), or a one-line error if it is not a JSON object."""
    if handle is None:
        return None
    text = handle.read()
    _, error = parse_json_file(text, f"{what} {getattr(handle, 'name', '')!r}".strip())
    if error:
        raise UserFacingError(error)
    return io.StringIO(text)


def parse_json_file(text: str, what: str) -> tuple[t.Any, str | None]:
    """The JSON value of a `--state`/`--catalog` file, or one line saying why not."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return None, f"{what} is not valid JSON ({exc}); fix the file or remove it"
    if not isinstance(value, dict):
        return None, f"{what} must be a JSON object, not {type(value).__name__}; fix or remove it"
    return value, None


def state_errors(state: t.Mapping[str, t.Any]) -> list[str]:
    """One line per malformed part of the messages bookmarks in a STATE value."""
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        return [f"state: 'bookmarks' is not an object; {START_OVER}"]
    stream_state = bookmarks.get(MESSAGES, {})
    if not isinstance(stream_state, dict):
        return [f"state: bookmarks.messages is not an object; {START_OVER}"]
    partitions = stream_state.get("partitions", [])
    if not isinstance(partitions, list):
        return [f"state: bookmarks.messages.partitions is not a list; {START_OVER}"]
    errors: list[str] = []
    for partition in partitions:
        errors.extend(_partition_errors(partition))
    return errors


def _partition_errors(partition: object) -> list[str]:
    """Problems of one guild partition: its context and its channel bookmarks."""
    if not isinstance(partition, dict) or not isinstance(partition.get("context"), dict):
        return [f"state: a messages partition has no context object; {START_OVER}"]
    guild = partition["context"].get("guild_id")
    if not is_snowflake(guild):
        return [f"state: a messages partition has guild_id {guild!r}, not an id; {START_OVER}"]
    channels = partition.get(BOOKMARKS_KEY, {})
    if not isinstance(channels, dict):
        return [
            f"state: messages bookmarks of guild {guild} are not an object of "
            f"channel id -> message id; {START_OVER}"
        ]
    return [
        f"state: messages bookmark of channel {channel!r} in guild {guild} is {value!r}, "
        f"not a message id; {START_OVER}"
        for channel, value in channels.items()
        if not (is_snowflake(channel) and is_snowflake(value))
    ]


def unknown_selected_streams(catalog: t.Mapping[str, t.Any], known: t.Iterable[str]) -> list[str]:
    """Streams a catalog selects that are not among `known` (the streams offered now)."""
    names = set(known)
    return [
        str(entry.get("tap_stream_id"))
        for entry in catalog.get("streams") or []
        if isinstance(entry, dict) and entry.get("tap_stream_id") not in names and _selected(entry)
    ]


def _selected(entry: t.Mapping[str, t.Any]) -> bool:
    """The stream-level `selected` (or `selected-by-default`) flag of a catalog entry."""
    for item in entry.get("metadata") or []:
        if isinstance(item, dict) and not item.get("breadcrumb"):
            meta = item.get("metadata") or {}
            return bool(meta.get("selected", meta.get("selected-by-default", False)))
    return bool(entry.get("selected", False))
