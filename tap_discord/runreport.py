"""The run summary: one report at the end of every run, for a person and for a monitor.

At the end of a sync (succeeded, failed, or stopped by SIGTERM/SIGINT) the tap logs a
few INFO lines a person reads, and the same figures as one JSON line a monitor parses:
the line's message is `RUN_SUMMARY <json>` (`SUMMARY_MARKER`), after the log format's
prefix (time, level, logger). What it holds: records per stream, requests by status,
429s, invalid requests against `invalid_request_limit`, time spent waiting on rate
limits, what was skipped and why, how many warnings were logged, the duration and the
exit status.

The figures come from where they are made: records from the writer (every stream, new
ones too), requests from the rate limiter every request goes through, skips from
`DiscordStream.warn_skipped`, warnings from a handler on the tap's logger.
"""

from __future__ import annotations

import json
import logging
import time
import typing as t
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass

from typing_extensions import override

if t.TYPE_CHECKING:
    from tap_discord.ratelimit import RateLimitStats

SUMMARY_MARKER = "RUN_SUMMARY "
#: Skips listed one by one (in the text lines and in the JSON); the rest are counted.
LISTED_SKIPS = 50
TEXT_SKIPS = 5


@dataclass(frozen=True)
class Skip:
    """A guild, channel or stream the run did not read, and why."""

    stream: str
    where: str
    reason: str


class WarningCounter(logging.Handler):
    """Counts the WARNING records of a logger and its children."""

    def __init__(self) -> None:
        """None yet."""
        super().__init__(level=logging.WARNING)
        self.count = 0

    @override
    def emit(self, record: logging.LogRecord) -> None:
        """Count a warning (errors are the run's status, not warnings)."""
        if record.levelno == logging.WARNING:
            self.count += 1


class RunReport:
    """What one run did, summed up once at its end (`finish`)."""

    def __init__(self, logger: logging.Logger, clock: Callable[[], float] = time.monotonic) -> None:
        """Start the clock and count the logger's warnings from now on."""
        self._log = logger
        self._clock = clock
        self._started = clock()
        self._warnings = WarningCounter()
        logger.addHandler(self._warnings)
        self.records: Mapping[str, int] = {}
        self.rate_limits: Callable[[], RateLimitStats | None] | None = None
        self.invalid_request_limit: int | None = None
        self.skips: list[Skip] = []
        self.finished = False

    def follow(
        self,
        records: Mapping[str, int],
        rate_limits: Callable[[], RateLimitStats | None],
        invalid_request_limit: int,
    ) -> None:
        """Where the summary reads the run's figures.

        `records`: the writer's counts, live; `rate_limits`: the limiter's statistics
        (the limiter may not exist yet); `invalid_request_limit`: what the invalid
        requests are held against.
        """
        self.records = records
        self.rate_limits = rate_limits
        self.invalid_request_limit = invalid_request_limit

    def skip(self, stream: str, where: Mapping[str, t.Any] | None, reason: str) -> None:
        """Note a guild, channel or stream skipped, with the reason given in its warning."""
        place = ", ".join(f"{key}={value}" for key, value in (where or {}).items())
        self.skips.append(Skip(stream, place, reason))

    def finish(self, status: str, exit_code: int, error: str | None = None) -> None:
        """Log the summary (once: later calls do nothing)."""
        if self.finished:
            return
        self.finished = True
        self._log.removeHandler(self._warnings)
        summary = self.summary(status, exit_code, error)
        for line in text_lines(summary):
            self._log.info("%s", line)
        self._log.info("%s%s", SUMMARY_MARKER, json.dumps(summary, separators=(",", ":")))

    def summary(self, status: str, exit_code: int, error: str | None) -> dict[str, t.Any]:
        """The figures, as the JSON line holds them."""
        stats = self.rate_limits() if self.rate_limits is not None else None
        by_status = dict(sorted(stats.by_status.items())) if stats else {}
        return {
            "status": status,
            "exit_code": exit_code,
            "error": error,
            "duration_seconds": round(self._clock() - self._started, 3),
            "records": dict(sorted(self.records.items())),
            "records_total": sum(self.records.values()),
            "requests": {"total": sum(by_status.values()), "by_status": by_status},
            "rate_limits": {
                "429s": by_status.get("429", 0),
                "route_429s": stats.route_429 if stats else 0,
                "shared_429s": stats.shared_429 if stats else 0,
                "global_429s": stats.global_429 if stats else 0,
                "bans": stats.bans if stats else 0,
                "wait_seconds": round(stats.wait_seconds, 3) if stats else 0.0,
                "waits": stats.waits if stats else 0,
            },
            "invalid_requests": {
                "total": stats.invalid_requests if stats else 0,
                "last_10_minutes": stats.invalid_requests_window if stats else 0,
                "limit": self.invalid_request_limit,
            },
            "skipped_count": len(self.skips),
            "skipped": [asdict(skip) for skip in self.skips[:LISTED_SKIPS]],
            "warnings": self._warnings.count,
        }


def text_lines(summary: Mapping[str, t.Any]) -> list[str]:
    """The summary for a person: a handful of lines."""
    error = f": {summary['error']}" if summary["error"] else ""
    records = ", ".join(f"{name} {n:,}" for name, n in summary["records"].items()) or "none"
    requests = summary["requests"]
    statuses = ", ".join(f"{code}: {n:,}" for code, n in requests["by_status"].items())
    limits = summary["rate_limits"]
    invalid = summary["invalid_requests"]
    lines = [
        f"Run summary: {summary['status']} (exit code {summary['exit_code']}) after "
        f"{summary['duration_seconds']:.1f} s{error}",
        f"  records: {summary['records_total']:,} ({records})",
        f"  requests: {requests['total']:,} ({statuses or 'none'}); 429s: {limits['429s']} "
        f"(route {limits['route_429s']}, shared {limits['shared_429s']}, global "
        f"{limits['global_429s']}); bans: {limits['bans']}",
        f"  invalid requests (401/403/429): {invalid['last_10_minutes']:,} in the last 10 "
        f"minutes, limit {invalid['limit']} (invalid_request_limit); {invalid['total']:,} in all",
        f"  waiting on rate limits: {limits['wait_seconds']:.1f} s, summed over the "
        f"{limits['waits']:,} requests that waited (up to max_workers wait at once)",
        f"  skipped: {summary['skipped_count']}; warnings: {summary['warnings']}",
    ]
    for skip in summary["skipped"][:TEXT_SKIPS]:
        where = f" ({skip['where']})" if skip["where"] else ""
        lines.append(f"    {skip['stream']}{where}: {skip['reason']}")
    if summary["skipped_count"] > TEXT_SKIPS:
        lines.append(f"    ... and {summary['skipped_count'] - TEXT_SKIPS} more (see the warnings)")
    return lines


#: The report of the run `TapDiscord.invoke` is making (None outside a run).
CURRENT_RUN: ContextVar[RunReport | None] = ContextVar("tap_discord_run", default=None)
