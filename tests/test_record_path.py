"""The lean record path changes no byte of what a target receives.

The tap writes RECORD and STATE lines with its own writer (`tap_discord/writer.py`),
skips the SDK's type conformance for messages and its deselection walk when nothing is
deselected. Each line the tap printed on the emulator's world (unicode, emoji, a NUL,
newlines, 18 and 19 digit ids) is written again by the SDK's own writer, from the same
message, after the SDK's recursive conformance: the bytes must be equal.
"""

from __future__ import annotations

import datetime
import decimal
import io
import json
import math
import sys
from typing import Any

import pytest
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib.encoding.simple import (
    RecordMessage,
    SchemaMessage,
    SimpleSingerWriter,
    StateMessage,
)

from tap_discord import schemas
from tap_discord.tap import TapDiscord
from tap_discord.writer import FastSingerWriter
from tests.emulator import Emulator, WorldSpec
from tests.tapharness import discover, run_tap, select

TOKEN = "record-path-test-token"
SDK = SimpleSingerWriter()


def sdk_line(parsed: dict[str, Any]) -> str:
    """What the SDK's writer prints for the message a tap line holds."""
    if parsed["type"] == "STATE":
        return SDK.serialize_message(StateMessage(value=parsed["value"]))
    extracted = parsed.get("time_extracted")
    message = RecordMessage(
        stream=parsed["stream"],
        record=parsed["record"],
        version=parsed.get("version"),
        time_extracted=datetime.datetime.fromisoformat(extracted) if extracted else None,
    )
    return SDK.serialize_message(message)


def test_every_record_and_state_line_is_the_sdks_byte_for_byte() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        run = run_tap({"bot_token": TOKEN, "api_url": emu.api_url})
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if '"type":"RECORD"' in line[:20]]
    lines += [line for line in run.stdout.splitlines() if line.startswith('{"type":"STATE"')]
    messages = [line for line in lines if '"stream":"messages"' in line[:40]]
    assert len(messages) > 500
    assert any(not line.isascii() or "\\u" in line for line in messages), "non-ASCII covered"
    assert any("\\u0000" in line for line in messages), "the NUL message is covered"
    for line in lines:
        assert line == sdk_line(json.loads(line))


def test_conformance_would_change_no_message() -> None:
    """TYPE_CONFORMANCE_LEVEL NONE for messages: RECURSIVE returns every record as it is."""
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        run = run_tap({"bot_token": TOKEN, "api_url": emu.api_url})
    assert run.returncode == 0, run.stderr
    records = run.records("messages")
    assert records
    for record in records:
        conformed = conform_record_data_types(
            stream_name="messages",
            record=record,
            schema=schemas.MESSAGES_SCHEMA,
            level=TypeConformanceLevel.RECURSIVE,
            logger=None,  # type: ignore[arg-type]
        )
        assert conformed == record


@pytest.mark.parametrize(
    "record",
    [
        {"s": 'caf\u00e9 \U0001f98a \u2028 \x7f \x00 \x1f "q" \\ / <&>', "n": None},
        {"big": 10**30, "neg": -1, "f": [0.1, 1e16, 1.5e-07, -0.0, 1e22, 100.0]},
        {"lone": "\ud83e", "nested": {"a": [{"b": True, "c": False}]}},
        {"nan": math.nan, "inf": [math.inf, -math.inf]},  # SDK: null
        {"decimal": decimal.Decimal("1.10")},  # SDK: 1.10
        {"when": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)},
    ],
)
def test_edge_values_are_written_as_the_sdk_writes_them(record: dict[str, Any]) -> None:
    extracted = datetime.datetime(2026, 11, 23, 12, 0, 0, tzinfo=datetime.timezone.utc)
    for message in (
        RecordMessage(stream="s", record=record, time_extracted=extracted),
        RecordMessage(stream="s", record=record, version=3),
        StateMessage(value={"bookmarks": record}),
    ):
        assert FastSingerWriter().serialize_message(message) == SDK.serialize_message(message)


def test_records_wait_in_the_buffer_and_every_other_message_flushes(monkeypatch) -> None:
    flushed: list[str] = []

    class Out(io.StringIO):
        def flush(self) -> None:
            flushed.append(self.getvalue())

    out = Out()
    monkeypatch.setattr(sys, "stdout", out)
    writer = FastSingerWriter()
    record = RecordMessage(stream="s", record={"x": "y"})
    writer.write_message(SchemaMessage(stream="s", schema={}, key_properties=[]))
    writer.write_message(record)
    writer.write_message(record)
    assert len(flushed) == 1, "no flush per record"
    writer.write_message(StateMessage(value={"k": 1}))
    assert len(flushed) == 2
    lines = flushed[-1].splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["SCHEMA", "RECORD", "RECORD", "STATE"]


def test_a_deselected_message_property_is_still_removed() -> None:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url}
        catalog = select(discover(config), {"messages"})
        for entry in catalog["streams"]:
            if entry["tap_stream_id"] == "messages":
                for item in entry["metadata"]:
                    if item["breadcrumb"] in (["properties", "content"], ["properties", "author"]):
                        item["metadata"]["selected"] = False
        run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    records = run.records("messages")
    assert records
    assert not [r for r in records if "content" in r or "author" in r]
    assert all("id" in r and "channel_id" in r for r in records)


def test_the_bookmark_step_leaves_the_state_the_sdk_leaves() -> None:
    tap = TapDiscord(config={"bot_token": TOKEN, "api_url": "http://127.0.0.1:9/api/v10"})
    stream = tap.streams["messages"]
    context = {"guild_id": "1"}
    states = []
    for fast in (True, False):
        state = stream.get_context_state(context)
        state.clear()
        state["context"] = context
        stream.channel_bookmarks(context)  # the guild state, found once
        if not fast:
            stream._guild_state = None  # the SDK's own step
        for message_id in ("998877665544332211", "1122334455667788990"):
            stream._increment_stream_state({"id": message_id, "guild_id": "1"}, context=context)
        states.append(json.dumps(stream.get_context_state(context)))
    assert states[0] == states[1]
    assert json.loads(states[0])["replication_key_value"] == "1122334455667788990"
