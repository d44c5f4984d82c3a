"""Full-table streams as a mirror: one `ACTIVATE_VERSION` per stream, after a complete run.

Singer's convention for "these rows are gone": every RECORD of a run carries the run's
table `version`, and an `ACTIVATE_VERSION` message with that version tells the target
that rows of older versions no longer exist (target-postgres sets their
`_sdc_deleted_at`, or deletes them with `hard_delete`).
https://hub.meltano.com/singer/spec#activate-version-messages

The SDK writes `ACTIVATE_VERSION` at the *start* of each full-table sync, once per
partition. Here that would mark deleted every row a run did not get to: all of a run
killed part way, every other guild's rows (the version covers the whole table), and
the rows of a guild or channel Discord refused this run. So the tap turns the SDK's
message off (`DiscordStream.emit_activate_version_messages`) and writes its own:

* once per stream, after the stream's last record of the run (the end of its
  top-level stream: `guilds` for every guild stream), with the run's version;
* only if every partition of the stream, and of the streams it depends on, was read
  completely: no guild, channel or list skipped for a 403/404 (`warn_skipped`), no
  part left out by a setting (`include_archived_threads: false`), no record limit;
  otherwise none, and one INFO line says deletions of that stream wait for a
  complete run. Being unable to read something is not its deletion.

A run that stops (an error, SIGTERM, SIGKILL) never reaches that point: it marks
nothing deleted.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    import logging


class MirrorLedger:
    """What one run read incompletely, by stream, and the run's table version."""

    def __init__(self, version: int, *, enabled: bool, logger: logging.Logger) -> None:
        """`version`: the run's table version (its start, in epoch milliseconds)."""
        self.version = version
        self.enabled = enabled
        self._logger = logger
        self._gaps: dict[str, str] = {}  # stream -> the first reason it is incomplete
        self._synced: set[str] = set()  # child streams that synced at least one partition

    def gap(self, stream: str, reason: str) -> None:
        """Record that `stream` was not read completely this run (the first reason kept)."""
        self._gaps.setdefault(stream, reason)

    def synced(self, stream: str) -> None:
        """Record that `stream` synced a partition (and so sent its SCHEMA) this run."""
        self._synced.add(stream)

    def has_synced(self, stream: str) -> bool:
        """Whether `stream` synced a partition this run."""
        return stream in self._synced

    def first_gap(self, streams: t.Iterable[str]) -> str | None:
        """Why the first of `streams` with a gap is incomplete; None when none has one."""
        for name in streams:
            if name in self._gaps:
                return f"{name}: {self._gaps[name]}"
        return None

    def wait_for_complete_run(self, stream: str, why: str) -> None:
        """The one INFO line for a stream whose deletions are not sent this run."""
        self._logger.info(
            "Not marking deleted rows of %s this run (%s); that waits for a run that reads "
            "all of it",
            stream,
            why,
        )
