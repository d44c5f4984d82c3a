r"""Singer output: the SDK's bytes, written faster.

Why: the SDK's writer builds a new `simplejson` encoder for every message and flushes
stdout after each one: per-record work on the main thread, whose CPU bounds an
unthrottled run, and each flush is a system call that hands the GIL to the prefetch
threads and waits to get it back. This writer produces the same bytes:

* RECORD messages whose record is a `FloatFreeRecord` (a message as parsed from
  Discord's JSON, known to hold no float) are encoded by msgspec, then every non-ASCII
  character and DEL is escaped as `\uXXXX` (surrogate pairs above the BMP), as the
  SDK's `ensure_ascii` does. msgspec writes some floats differently from the SDK
  (`1e16`, not `1e+16`), hence the float-free condition.
* Other RECORD and STATE messages are encoded by the standard library's C encoder,
  set up like the SDK's `simplejson.dumps` call (compact separators, `ensure_ascii`,
  the same float `repr`, the same escapes). Anything either encoder would write
  differently (Decimal, datetime, NaN or infinity, which simplejson writes as null; a
  lone surrogate) makes it raise, and that message goes through the SDK's serializer.
* Other messages (SCHEMA, ...) always go through the SDK's serializer.

When stdout is the process's own (`sys.__stdout__`, as when Meltano runs the tap),
lines are collected in blocks of about 1 MB, and a block is handed over when it is
full, at any message but RECORD and STATE, at a STATE when the last hand-over is more
than `FLUSH_SECONDS` old, before the main thread waits (for a rate limit, a prefetched
page, another thread's answer or a retry) and at the end of each stream the SDK syncs,
then waiting until it is written (`TapDiscord.flush_output` lists each of those
places), and at interpreter exit (`atexit`; after an error or the SDK's SIGTERM STATE
too). One output thread writes the blocks to stdout, in the order they were handed
over, while the main thread goes on making the next ones: a write to a file, or to a
pipe the target is slow to read, does not stop the records (at most `QUEUED_BLOCKS`
wait, so memory stays bounded; a write error is raised on the main thread at its next
hand-over). Output order never changes, so a target never sees a STATE before the
records it covers; a killed run loses a suffix of its output, which the last STATE the
target saw does not claim, so a rerun from it loses nothing. A SIGTERM or SIGINT that
comes while a block is handed over is handled once it is (the SDK's handler writes a
last STATE and exits: `run_after_flush`). When stdout is replaced (tests that capture
it), each line is written at once, and flushed unless it is a RECORD.

`tests/test_record_path.py` compares this writer with the SDK's byte for byte on the
emulator's world, non-ASCII, control characters, floats and the fallbacks included.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import json
import queue
import sys
import threading
import time
import typing as t
from collections import Counter
from threading import get_ident

import msgspec
from singer_sdk.singerlib.encoding.simple import (
    RecordMessage,
    SimpleSingerWriter,
    StateMessage,
)
from typing_extensions import override

from tap_discord.errors import OutputClosedError
from tap_discord.progress import TICK_RECORDS
from tap_discord.sdkcontract import StateWriter

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import TapState
    from singer_sdk.singerlib.encoding.simple import Message

#: Bytes collected before a block is written.
BLOCK_BYTES = 1 << 20
#: A STATE is written at once when the last block is older than this (liveness).
FLUSH_SECONDS = 0.5
#: Blocks handed over and not written yet, at most (the main thread waits beyond).
QUEUED_BLOCKS = 4
_ESCAPES = "tap_discord.json_ascii"

_encode = json.JSONEncoder(
    ensure_ascii=True,
    separators=(",", ":"),
    allow_nan=False,  # simplejson's ignore_nan writes null: let the SDK do it
    check_circular=False,
).encode
_encode_plain = msgspec.json.Encoder().encode


class FloatFreeRecord(dict):
    """A record of JSON strings, integers, booleans, nulls, lists and objects: no float.

    Only code that parsed the record itself and saw no float may make one (the messages
    stream's page decoder); the writer then encodes it with msgspec.
    """


def _json_ascii_escapes(exc: UnicodeError) -> tuple[str, int]:
    """`ensure_ascii` escapes for a run of non-ASCII characters (a codec error handler).

    The same few runs (names, emoji) recur in record after record: each is escaped once.
    """
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    run = exc.object[exc.start : exc.end]
    escaped = _ESCAPED_RUNS.get(run)
    if escaped is None:
        if len(_ESCAPED_RUNS) >= ESCAPED_RUNS_KEPT:
            _ESCAPED_RUNS.clear()
        escaped = _ESCAPED_RUNS[run] = _escaped(run)
    return escaped, exc.end


#: How many distinct non-ASCII runs `_json_ascii_escapes` remembers.
ESCAPED_RUNS_KEPT = 4096
_ESCAPED_RUNS: dict[str, str] = {}


def _escaped(run: str) -> str:
    r"""`\uXXXX` for each character of `run`, as a surrogate pair above the BMP."""
    escaped = []
    for char in run:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            escaped.append(f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}")
        else:
            escaped.append(f"\\u{code:04x}")
    return "".join(escaped)


codecs.register_error(_ESCAPES, _json_ascii_escapes)


class OutputThread:
    """Writes blocks to a binary stream in a thread of its own, in order.

    Why: a write of a 1 MB block costs the main thread a system call's worth of copying,
    or a wait for the target to read (a pipe holds 64 KB); in this thread, which holds
    no GIL while it writes, the main thread makes the next records meanwhile. Only
    bytes the main thread finished pass here, so records and STATE still leave in the
    one order the main thread made them.
    """

    def __init__(self, binary: t.IO[bytes]) -> None:
        """Start the thread (a daemon: a pending block is written by `drain` at exit)."""
        self._binary = binary
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=QUEUED_BLOCKS)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="tap-discord-output", daemon=True)
        self._thread.start()

    def put(self, data: bytes) -> None:
        """Hand a block over, waiting while `QUEUED_BLOCKS` are pending.

        Re-raises a failed write's error (nothing is written after it).
        """
        self.raise_error()
        self._queue.put(data)

    def drain(self) -> None:
        """Wait until every block handed over is written; re-raise a failed write's error."""
        self._queue.join()
        self.raise_error()

    def raise_error(self) -> None:
        """Re-raise the error of a failed write, if one failed (one line for a closed pipe)."""
        error = self._error
        if isinstance(error, OSError):
            raise OutputClosedError.of(error) from error
        if error is not None:
            raise error

    def _run(self) -> None:
        """Write blocks as they come; after a failure, drop them (the main thread raises)."""
        while True:
            data = self._queue.get()
            try:
                if self._error is None:
                    self._binary.write(data)
                    self._binary.flush()
            except BaseException as exc:  # re-raised on the main thread
                self._error = exc
            finally:
                self._queue.task_done()


class FastSingerWriter(SimpleSingerWriter):
    """The SDK's Singer writer with fast RECORD and STATE encoding, writing in blocks."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """An empty block; registered to be written out at interpreter exit."""
        super().__init__(*args, **kwargs)
        self._block: list[bytes] = []
        self._block_bytes = 0
        self._flushing = False
        self._deferred: t.Callable[[], None] | None = None
        self._maker: int | None = None  # the thread that makes the lines (its ident)
        self._output: OutputThread | None = None  # the thread that writes them to stdout
        self._written_at = time.monotonic()
        #: RECORD messages written per stream (the run summary, progress lines).
        self.record_counts: Counter[str] = Counter()
        #: The stream of the last RECORD written.
        self.last_stream: str | None = None
        #: Called every `TICK_RECORDS` records (progress lines).
        self.tick: t.Callable[[], None] | None = None
        self._until_tick = TICK_RECORDS
        _LIVE_WRITERS.add(self)

    @override
    def serialize_message(self, message: Message) -> str:
        """One line, as the SDK's `serialize_message` returns it."""
        return self.message_bytes(message).decode("utf-8")

    def message_bytes(self, message: Message) -> bytes:
        """RECORD and STATE by a fast encoder when it yields the SDK's bytes; else as the SDK."""
        try:
            if isinstance(message, RecordMessage):
                return record_line(message)
            if isinstance(message, StateMessage):
                return _encode({"type": "STATE", "value": message.value}).encode("ascii")
        except (TypeError, ValueError, OverflowError):
            pass  # a value only the SDK's serializer writes as it does
        return super().serialize_message(message).encode("utf-8")

    @override
    def write_message(self, message: Message) -> None:
        """Add one line to the block and write the block when it is due (see above)."""
        line = self.message_bytes(message)
        self._maker = get_ident()
        if type(message) is RecordMessage:  # counted inline: this runs for every record
            stream = message.stream
            self.record_counts[stream] += 1
            self.last_stream = stream
            self._until_tick -= 1
            if self._until_tick <= 0:
                self._tick()
        if sys.stdout is not sys.__stdout__:  # captured: no exit hook will write a block
            self.flush()
            sys.stdout.write(line.decode("utf-8") + "\n")
            if not isinstance(message, RecordMessage):
                sys.stdout.flush()
            return
        self._block.append(line)
        self._block_bytes += len(line) + 1
        if self._block_bytes >= BLOCK_BYTES or (
            type(message) is not RecordMessage and self._due(message)
        ):
            self.flush()

    def _tick(self) -> None:
        """Every `TICK_RECORDS` records: call `tick` (progress lines)."""
        self._until_tick = TICK_RECORDS
        if self.tick is not None:
            self.tick()

    def _due(self, message: Message) -> bool:
        """Any message but a RECORD is written at once; a STATE only now and then."""
        if isinstance(message, RecordMessage):
            return False
        if isinstance(message, StateMessage):
            return time.monotonic() - self._written_at >= FLUSH_SECONDS
        return True

    def flush(self) -> None:
        """Hand the block to the output thread, then run a deferred signal handler.

        To a replaced stdout (a text stream without `buffer`), the block is written here.
        """
        if self._flushing:
            return  # a signal handler's write, inside a flush: that flush writes it
        if self._output is not None:
            self._output.raise_error()  # the target stopped reading: say so at once
        if not self._block:
            return
        self._flushing = True
        try:
            block, self._block, self._block_bytes = self._block, [], 0
            block.append(b"")  # so that the last line ends with a newline too
            data = b"\n".join(block)
            out = sys.stdout
            binary = getattr(out, "buffer", None)
            if binary is None:  # a text stream, as in tests that capture stdout
                out.write(data.decode("utf-8"))
                out.flush()
            else:
                if self._output is None:
                    out.flush()  # anything written to the text layer goes first
                    self._output = OutputThread(binary)
                self._output.put(data)
            self._written_at = time.monotonic()
        finally:
            self._end_of_flush()

    def _end_of_flush(self) -> None:
        """Leave `flush` or `drain`, and run a signal handler deferred meanwhile."""
        self._flushing = False
        deferred, self._deferred = self._deferred, None
        if deferred is not None:  # even after a failed write: the signal asked to stop
            deferred()

    def flush_if_writer(self, *, wait: bool = False) -> None:
        """`flush`, when called by the thread that makes the lines (else nothing).

        `wait`: and return only once every block handed over is written.
        """
        if self._maker == get_ident():
            self.flush()
            if wait:
                self.drain()

    def drain(self) -> None:
        """Wait until the output thread has written every block handed to it.

        A signal meanwhile is handled after it (its handler would hand a STATE over,
        and the queue's lock, held while waiting, cannot be taken twice).
        """
        if self._output is None or self._flushing:
            return
        self._flushing = True
        try:
            self._output.drain()
        finally:
            self._end_of_flush()

    def run_after_flush(self, action: t.Callable[[], None]) -> None:
        """Run `action` now, or, when called inside `flush` (a signal handler), after it.

        Why: Python runs a signal handler between any two steps of the main thread. The
        SDK's SIGTERM handler writes a last STATE and exits; run in the middle of a
        flush, it would exit with a block taken but not written, and a STATE claiming
        its records would reach the target from the exit hook.
        """
        if self._flushing:
            self._deferred = action
        else:
            action()


class JsonStateWriter(StateWriter):
    """The SDK's `StateWriter`, telling a changed state by its JSON, not by a deep copy.

    Why: the SDK deep-copies the whole tap state after every STATE message to compare
    the next one with it, a copy of every channel's bookmark on the main thread every
    100 message records. The JSON of the state is as exact a record of what was
    written (a change of key order alone writes one more, identical STATE, which is
    harmless). It uses the base class's private attributes (see sdkcontract.py).
    """

    def __init__(self, message_writer: t.Any) -> None:
        """Nothing written yet."""
        super().__init__(message_writer)
        self._last_json: str | None = None

    @override
    def write_state(self, state: TapState) -> None:
        """Write a STATE message unless it is the last one written."""
        try:
            encoded = _encode(state)
        except (TypeError, ValueError):  # not plain JSON: the SDK's comparison
            self._last_json = None
            super().write_state(state)
            return
        if encoded != self._last_json:
            self._message_writer.write_message(StateMessage(value=state))
            self._last_json = encoded
            self._last_emitted_state = None  # the SDK's comparison must not skip the next


#: Every writer, kept (a block is small once written) so none is collected unwritten.
_LIVE_WRITERS: set[FastSingerWriter] = set()


@atexit.register
def _flush_at_exit() -> None:
    """Write what is left when the process exits (after the SDK's SIGTERM STATE too).

    Twice: a signal that comes during the first hand-over runs the SDK's handler after
    it, whose last STATE the second writes. Nothing is raised: stdout may be closed.
    """
    for writer in list(_LIVE_WRITERS):
        for _ in range(2):
            with contextlib.suppress(BaseException):
                writer.flush()
            with contextlib.suppress(BaseException):
                writer.drain()


#: The last `time_extracted` written, and its text.
_last_time: list[t.Any] = [None, ""]


def record_line(message: RecordMessage) -> bytes:
    """A RECORD message as the SDK writes it: same keys, order and encoding.

    Raises TypeError, ValueError or OverflowError for values the fast encoders cannot
    write the SDK's way (Decimal, datetime, NaN, infinity, a lone surrogate).
    """
    line: dict[str, t.Any] = {"type": "RECORD", "stream": message.stream, "record": message.record}
    if message.version is not None:
        line["version"] = message.version
    when = message.time_extracted
    if when is not None:
        if when is not _last_time[0]:  # a page's records share one: format it once
            _last_time[:] = (when, when.isoformat(sep="T"))
        line["time_extracted"] = _last_time[1]
    if type(message.record) is not FloatFreeRecord:
        return _encode(line).encode("ascii")
    try:
        data = _encode_plain(line)
    except UnicodeEncodeError as exc:  # a lone surrogate: msgspec cannot write it
        raise ValueError(str(exc)) from None
    if not data.isascii():
        data = data.decode("utf-8").encode("ascii", _ESCAPES)
    return data.replace(b"\x7f", b"\\u007f")
