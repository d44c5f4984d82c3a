"""Singer output: the SDK's bytes, written faster.

Why: the SDK's writer builds a new `simplejson` encoder for every message and flushes
stdout after each one; at a few thousand records per second that is a large share of
the tap's CPU. This writer produces the same bytes:

* RECORD messages are encoded by the standard library's C encoder, set up like the
  SDK's `simplejson.dumps` call (compact separators, `ensure_ascii`, the same float
  `repr`, the same escapes), so every line is byte-identical. Anything it would encode
  differently (Decimal, datetime, NaN or infinity, which simplejson writes as null)
  makes it raise, and that message goes through the SDK's own serializer instead.
* STATE messages likewise (the SDK's serializer deep-copies the whole state for each
  one, about every 100 records); other messages (SCHEMA, ...) always go through the
  SDK's serializer.
* stdout is flushed after every message but RECORD (stdout's own buffer then sends
  records in blocks of a few KB rather than one system call each, and each call
  releases the GIL, which busy worker threads then hold). A STATE therefore never
  reaches the target before the records it covers, and records still in the buffer
  are never claimed by a STATE the target has seen, so a killed run still resumes
  from its last STATE without a loss. Each message is still one `write` call, as in
  the SDK, so a SIGTERM (whose handler writes a last STATE) finds the output as the
  SDK's writer would leave it. (A batching writer repeated its batch when the signal
  came between its write and its bookkeeping.)

`tests/test_record_path.py` compares both writers byte for byte on the emulator's
world, non-ASCII, control characters and the fallbacks included.
"""

from __future__ import annotations

import json
import sys
import typing as t

from singer_sdk.singerlib.encoding.simple import (
    RecordMessage,
    SimpleSingerWriter,
    StateMessage,
)

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message

_encode = json.JSONEncoder(
    ensure_ascii=True,
    separators=(",", ":"),
    allow_nan=False,  # simplejson's ignore_nan writes null: let the SDK do it
    check_circular=False,
).encode


class FastSingerWriter(SimpleSingerWriter):
    """The SDK's Singer writer with a fast RECORD and STATE path; no flush per RECORD."""

    def serialize_message(self, message: Message) -> str:
        """RECORD and STATE by the C encoder when it yields the SDK's bytes; else as the SDK."""
        try:
            if isinstance(message, RecordMessage):
                return record_line(message)
            if isinstance(message, StateMessage):
                return _encode({"type": "STATE", "value": message.value})
        except (TypeError, ValueError):
            pass  # a type only the SDK's serializer writes as it does
        return super().serialize_message(message)

    def write_message(self, message: Message) -> None:
        """Write one line; flush unless it is a RECORD (the next other message flushes it)."""
        sys.stdout.write(self.format_message(message) + "\n")
        if not isinstance(message, RecordMessage):
            sys.stdout.flush()


def record_line(message: RecordMessage) -> str:
    """A RECORD message as the SDK writes it: same keys, order and encoding.

    Raises TypeError or ValueError for values the standard encoder cannot write the
    SDK's way (Decimal, datetime, NaN, infinity).
    """
    line: dict[str, t.Any] = {"type": "RECORD", "stream": message.stream, "record": message.record}
    if message.version is not None:
        line["version"] = message.version
    if message.time_extracted is not None:
        line["time_extracted"] = message.time_extracted.isoformat(sep="T")
    return _encode(line)
