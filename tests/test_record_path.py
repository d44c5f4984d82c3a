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
import gc
import io
import json
import math
import sys
import threading
import time
from collections import Counter
from typing import Any

import pytest
from click.testing import CliRunner
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib.encoding.simple import (
    RecordMessage,
    SchemaMessage,
    SimpleSingerWriter,
    StateMessage,
)

from tap_discord import schemas
from tap_discord import writer as writer_module
from tap_discord.errors import OutputClosedError
from tap_discord.gctuning import YOUNG_THRESHOLD, collector_tuned_for_records
from tap_discord.sdkcontract import conform_record_data_types
from tap_discord.streams.messages import MessagesStream, PageDecoder
from tap_discord.tap import TapDiscord
from tap_discord.writer import FastSingerWriter, FloatFreeRecord, JsonStateWriter
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
    # The NUL message arrives with U+FFFD (nulchars.py); the writer's own handling of a
    # NUL is covered by the records below.
    assert any("\\ufffd" in line for line in messages), "the NUL message is covered"
    assert not any("\\u0000" in line for line in lines)
    assert any('"duration_secs":' in line for line in messages), "a float (voice message)"
    # A page's records carry the time the page arrived (at most 100 records per page).
    times = Counter(json.loads(line)["time_extracted"] for line in messages)
    assert len(times) < len(messages) / 3 and max(times.values()) <= 100
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
            logger=None,
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
def test_edge_values_are_written_as_the_sdks_writer_writes_them(record: dict[str, Any]) -> None:
    extracted = datetime.datetime(2026, 11, 23, 12, 0, 0, tzinfo=datetime.timezone.utc)
    for message in (
        RecordMessage(stream="s", record=record, time_extracted=extracted),
        RecordMessage(stream="s", record=record, version=3),
        StateMessage(value={"bookmarks": record}),
    ):
        assert FastSingerWriter().serialize_message(message) == SDK.serialize_message(message)


@pytest.mark.parametrize(
    "record",
    [
        {"s": 'caf\u00e9 \U0001f98a\u2764\ufe0f \u2028 \x7f\x7f \x00 \x1f "q" \\ / <&>', "n": None},
        {"run": "\u674e\u5c0f\u9f8d" * 3, "again": "\u674e\u5c0f\u9f8d", "ascii": "plain"},
        {"big": 10**30, "neg": -(2**63), "t": [True, False, None, [], {}]},
        {"lone": "\ud83e", "nested": {"a": [{"b": "\U0001f680"}]}},  # msgspec refuses: SDK's
        {"s": "\\u00e9 is not \u00e9", "k\u00e9y": "\\x41 \\U0001f98a"},
    ],
)
def test_float_free_records_written_by_msgspec_are_the_sdks_bytes(record: dict[str, Any]) -> None:
    extracted = datetime.datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=datetime.timezone.utc)
    writer = FastSingerWriter()
    for _ in range(2):  # the second time, the escapes come from the cache
        for message in (
            RecordMessage(stream="s", record=FloatFreeRecord(record), time_extracted=extracted),
            RecordMessage(stream="s", record=FloatFreeRecord(record), version=7),
        ):
            assert writer.serialize_message(message) == SDK.serialize_message(message)


def test_pages_mark_only_messages_without_a_float_for_msgspec() -> None:
    decoder = PageDecoder()
    page = b'[{"id":"3","n":1},{"id":"2","a":[{"duration_secs":4.480000019073486}]},{"id":"1"}]'
    records = decoder.records(page)
    assert [type(r) for r in records] == [FloatFreeRecord, dict, FloatFreeRecord]
    assert records[1]["a"][0]["duration_secs"] == 4.480000019073486
    assert [type(r) for r in decoder.records(b'[{"id":"1"},{"id":"2"}]')] == [FloatFreeRecord] * 2
    # Out of a double's range: infinity, as `json` reads it (and the SDK writes null).
    (huge,) = decoder.records(b'[{"id":"1","x":1e400}]')
    assert type(huge) is dict and huge["x"] == math.inf
    line = FastSingerWriter().serialize_message(RecordMessage(stream="s", record=huge))
    assert line == SDK.serialize_message(RecordMessage(stream="s", record=huge))
    assert decoder.records(b'{"message":"not a list"}') == {"message": "not a list"}


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


class RawOut(io.BytesIO):
    """What reaches the file descriptor: one entry per write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: Any) -> int:
        self.writes.append(bytes(data))
        return super().write(data)


def test_the_process_stdout_gets_blocks_in_order_and_the_rest_at_exit(monkeypatch) -> None:
    raw = RawOut()
    out = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "__stdout__", out)  # the process's own stdout: blocks
    monkeypatch.setattr(writer_module, "BLOCK_BYTES", 300)
    writer = FastSingerWriter()
    record = RecordMessage(stream="s", record=FloatFreeRecord(x="y" * 40))
    writer.write_message(SchemaMessage(stream="s", schema={}, key_properties=[]))
    writer.drain()  # written by the output thread: wait for it
    assert len(raw.writes) == 1, "a SCHEMA is written at once"
    writer.write_message(record)
    writer.write_message(StateMessage(value={"k": 1}))
    writer.drain()
    assert len(raw.writes) == 1, "a STATE soon after a write waits in the block"
    for _ in range(4):
        writer.write_message(record)
    writer.drain()
    assert len(raw.writes) == 2, "a full block is written"
    writer.write_message(record)
    monkeypatch.setattr(writer_module, "FLUSH_SECONDS", 0.0)
    writer.write_message(StateMessage(value={"k": 2}))
    writer.drain()
    assert len(raw.writes) == 3, "a STATE is written when the last write is old enough"
    writer.write_message(record)
    writer_module._flush_at_exit()
    kinds = [json.loads(line)["type"] for line in b"".join(raw.writes).splitlines()]
    assert kinds == ["SCHEMA", "RECORD", "STATE", *["RECORD"] * 5, "STATE", "RECORD"]
    assert len(raw.writes) == 4


def test_a_signal_during_a_block_hand_over_is_handled_after_it(monkeypatch) -> None:
    """The SDK's SIGTERM handler (last STATE, exit) never splits a block from its STATE."""
    writer = FastSingerWriter()

    def sigterm_handler() -> None:  # what TapDiscord._handle_termination runs
        writer.write_message(StateMessage(value={"last": True}))
        raise SystemExit(0)

    raw = RawOut()
    out = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "__stdout__", out)
    real_put = writer_module.OutputThread.put

    def interrupted_put(self: Any, data: bytes) -> None:
        writer.run_after_flush(sigterm_handler)  # the signal arrives during the hand-over
        real_put(self, data)

    monkeypatch.setattr(writer_module.OutputThread, "put", interrupted_put)
    for number in range(3):
        writer.write_message(RecordMessage(stream="s", record={"n": number}))
    with pytest.raises(SystemExit):
        writer.flush()
    monkeypatch.setattr(writer_module.OutputThread, "put", real_put)
    writer_module._flush_at_exit()
    lines = [json.loads(line) for line in b"".join(raw.writes).splitlines()]
    assert [line.get("record", line.get("value")) for line in lines] == [
        {"n": 0},
        {"n": 1},
        {"n": 2},
        {"last": True},
    ]


def test_a_signal_while_waiting_for_the_output_is_handled_after_it(monkeypatch) -> None:
    raw = RawOut()
    out = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "__stdout__", out)
    writer = FastSingerWriter()

    def sigterm_handler() -> None:  # what TapDiscord._handle_termination runs
        writer.write_message(StateMessage(value={"last": True}))
        raise SystemExit(0)

    real_drain = writer_module.OutputThread.drain

    def interrupted_drain(self: Any) -> None:
        writer.run_after_flush(sigterm_handler)  # the signal arrives while it waits
        real_drain(self)

    writer.write_message(SchemaMessage(stream="s", schema={}, key_properties=[]))
    monkeypatch.setattr(writer_module.OutputThread, "drain", interrupted_drain)
    with pytest.raises(SystemExit):
        writer.drain()
    monkeypatch.setattr(writer_module.OutputThread, "drain", real_drain)
    writer_module._flush_at_exit()
    kinds = [json.loads(line)["type"] for line in b"".join(raw.writes).splitlines()]
    assert kinds == ["SCHEMA", "STATE"]


def test_an_in_process_sync_has_written_everything_when_it_returns(monkeypatch) -> None:
    raw = RawOut()
    out = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "__stdout__", out)
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        TapDiscord(config={"bot_token": TOKEN, "api_url": emu.api_url}).sync_all()
        lines = b"".join(raw.writes).splitlines()
    assert len(raw.writes) < len(lines) / 4, "written in blocks, not line by line"
    last = json.loads(lines[-1])
    assert last["type"] == "STATE" and "messages" in last["value"]["bookmarks"]


def test_the_state_writer_skips_only_an_unchanged_state(monkeypatch) -> None:
    written: list[Any] = []
    writer = FastSingerWriter()
    monkeypatch.setattr(writer, "write_message", written.append)
    states = JsonStateWriter(writer)
    state: dict[str, Any] = {"bookmarks": {"messages": {"channel_bookmarks": {"1": "5"}}}}
    states.write_state(state)
    states.write_state(state)
    state["bookmarks"]["messages"]["channel_bookmarks"]["1"] = "6"  # changed in place
    states.write_state(state)
    states.write_state({"when": datetime.datetime(2026, 1, 1)})
    states.write_state({"when": datetime.datetime(2026, 1, 1)})
    assert len(written) == 3, "unchanged states are not repeated, changed ones are written"
    states.write_state({"bookmarks": {}})  # JSON again: written
    states.write_state({"when": datetime.datetime(2026, 1, 1)})  # the SDK's path: written
    assert len(written) == 5, "after a JSON state, the SDK's comparison starts afresh"


def test_only_the_writing_thread_flushes_and_a_closed_stdout_is_fatal(monkeypatch) -> None:
    class Closed(RawOut):
        def write(self, data: Any) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    out = io.TextIOWrapper(io.BufferedWriter(Closed()), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "__stdout__", out)
    tap = TapDiscord(config={"bot_token": TOKEN, "api_url": "http://127.0.0.1:9/api/v10"})
    tap.write_message(RecordMessage(stream="s", record={"x": 1}))
    other = threading.Thread(target=tap.flush_output)
    other.start()
    other.join()  # another thread: nothing written, nothing raised
    with pytest.raises(OutputClosedError, match="the target stopped reading"):
        tap.flush_output(wait=True)
    with pytest.raises(OutputClosedError, match="the target stopped reading"):
        tap.flush_output()  # and at every hand-over after it


def test_the_main_thread_goes_on_while_a_slow_target_reads(monkeypatch) -> None:
    """Blocks wait for the output thread, at most QUEUED_BLOCKS of them, in order."""
    release = threading.Event()

    class Slow(RawOut):
        def write(self, data: Any) -> int:
            release.wait(10)
            return super().write(data)

    raw = Slow()
    out = io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "__stdout__", out)
    writer = FastSingerWriter()
    queued = writer_module.QUEUED_BLOCKS
    started = time.monotonic()
    for number in range(queued + 1):  # one being written, the others queued
        writer.write_message(SchemaMessage(stream=f"s{number}", schema={}, key_properties=[]))
        time.sleep(0.05)  # the output thread takes the first one meanwhile
    assert time.monotonic() - started < 5, "the main thread did not wait for the write"
    assert raw.writes == []
    blocked = threading.Thread(
        target=writer.write_message,
        args=(SchemaMessage(stream="last", schema={}, key_properties=[]),),
    )
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive(), "a full queue makes the main thread wait: memory is bounded"
    release.set()
    blocked.join(10)
    writer.drain()
    streams = [json.loads(line)["stream"] for line in b"".join(raw.writes).splitlines()]
    assert streams == [*(f"s{n}" for n in range(queued + 1)), "last"]


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


def test_a_cli_run_collects_the_young_less_often_and_restores_the_collector(
    monkeypatch, tmp_path
) -> None:
    """The run's records are made with the tuned collector; the process gets it back after."""
    seen: list[tuple[int, int]] = []
    get_records = MessagesStream.get_records

    def spying(self: MessagesStream, context: Any) -> Any:
        seen.append((gc.get_threshold()[0], gc.get_freeze_count()))
        yield from get_records(self, context)

    monkeypatch.setattr(MessagesStream, "get_records", spying)
    before = gc.get_threshold()
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        config = tmp_path / "config.json"
        config.write_text(json.dumps({"bot_token": TOKEN, "api_url": emu.api_url}))
        result = CliRunner().invoke(TapDiscord.cli, ["--config", str(config)])
    assert result.exit_code == 0, result.output
    assert '"stream":"messages"' in result.stdout
    assert seen, "the messages stream ran"
    for threshold, frozen in seen:
        assert threshold >= YOUNG_THRESHOLD > before[0]
        assert frozen > 1000, "the objects made before the run are frozen"
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_the_collector_is_restored_when_the_run_fails() -> None:
    before = gc.get_threshold()
    during: list[int] = []

    def failing_run() -> None:
        with collector_tuned_for_records():
            during.append(gc.get_threshold()[0])
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing_run()
    assert during == [max(before[0], YOUNG_THRESHOLD)]
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
