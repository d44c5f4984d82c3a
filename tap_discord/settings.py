"""The tap's settings: their JSON Schema, the checks it cannot express, typed reads.

The authentication settings are `auth/settings.py`'s; this module merges them into
the tap's schema and runs their checks with the others.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import typing as t
from functools import cached_property
from importlib import metadata
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_discord.auth import AUTH_PROPERTIES, AuthMode, auth_mode, check_auth_settings
from tap_discord.snowflake import after_cursor_for, is_snowflake, parse_duration, parse_start_date
from tap_discord.spill import spill_budget_for

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Mapping

PROJECT_URL = "https://github.com/tap-discord/tap-discord"
DEFAULT_API_URL = "https://discord.com/api/v10"
SNOWFLAKE_ITEM = th.CustomType(
    {"type": ["string", "integer"], "pattern": r"^[0-9]{1,20}$", "minimum": 0}
)


def _version() -> str:
    """The installed package version, for the User-Agent Discord asks for."""
    try:
        return metadata.version("tap-discord")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0.0.0"


DEFAULT_USER_AGENT = f"DiscordBot ({PROJECT_URL}, {_version()})"
#: Message channels read at once by default: threads mostly wait on the rate limiter,
#: and Discord's 50 requests/s allow about 50 channels at one page per second each.
DEFAULT_MAX_WORKERS = 64
#: Message pages buffered ahead of the output, in MB of raw JSON (about 1,000 messages
#: per MB): enough to read ~100 channels of 1,000 messages at once, under 200 MB RSS.
DEFAULT_PREFETCH_BUFFER_MB = 96
DEFAULT_PREFETCH_SPILL_MB = 4096
#: Reaction requests per run: about 3.5 minutes at Discord's 50 requests a second, so a
#: long history's reactions are read over several scheduled runs, not in one.
DEFAULT_REACTION_REQUEST_BUDGET = 10_000

#: The tap's `config_jsonschema`; `--about` prints its settings table from it.
CONFIG_SCHEMA: dict[str, t.Any] = th.PropertiesList(
    *AUTH_PROPERTIES,
    th.Property(
        "api_url",
        th.StringType,
        default=DEFAULT_API_URL,
        description="Discord API root. Plain http:// is accepted only for loopback "
        "hosts (the emulator used by tests and the demo).",
    ),
    th.Property(
        "start_date",
        th.StringType,
        description="Oldest messages to read on the first run: an ISO 8601 date or "
        "datetime (`2024-01-01`), or an ISO 8601 duration meaning that long ago "
        "(`P30D`). Empty reads the whole history.",
    ),
    th.Property(
        "message_lookback",
        th.StringType,
        description="Re-read, on every run, each channel's and thread's messages from "
        "this long before its bookmark (an ISO 8601 duration: `P7D`, `PT12H`), so "
        "edits, reactions and pins of recent messages reach the target (upserted by "
        "`id`). Costs one request per channel or thread with a bookmark per run, even "
        "when nothing is new, plus one per further 100 messages in the window. Empty: "
        "off (only new messages are read).",
    ),
    th.Property(
        "reaction_request_budget",
        th.IntegerType(minimum=0),
        default=DEFAULT_REACTION_REQUEST_BUDGET,
        description="Most requests the `message_reactions` stream makes in one run (one "
        "per 100 users of a changed reaction). Reactions left over when it is reached "
        "are kept in the state and read first by the next run. 0: no limit.",
    ),
    th.Property(
        "require_message_content",
        th.BooleanType,
        default=False,
        description="Stop with an error (exit 1) instead of a warning when the "
        "application's Message Content intent is off, i.e. when Discord would send "
        "other users' messages with empty content, embeds, attachments and components.",
    ),
    th.Property(
        "emit_activate_version_messages",
        th.BooleanType,
        default=False,
        description="Mark rows Discord no longer returns deleted: after a run that read "
        "every guild, channel and list of a full-table stream (guilds, channels, "
        "threads, members, invites, roles, emojis, stickers, scheduled events, the "
        "rest of a guild's lists such as bans and webhooks, user streams) completely, "
        "send one `ACTIVATE_VERSION` for it, and target-postgres "
        "sets `_sdc_deleted_at` on its rows not in this run (or deletes them with "
        "`hard_delete`). A run with a skipped guild, channel or list marks nothing of "
        "that stream deleted. With `message_lookback`, messages deleted inside the "
        "window are sent as tombstones either way, as are withdrawn RSVPs and members "
        "who left a thread.",
    ),
    th.Property(
        "guild_ids",
        th.ArrayType(SNOWFLAKE_ITEM),
        description="Guilds (servers) to read. Default: every guild the bot is in.",
    ),
    th.Property(
        "channel_ids",
        th.ArrayType(SNOWFLAKE_ITEM),
        description="Restrict message syncing to these channels (and their threads). "
        "Default: every channel the bot can read.",
    ),
    th.Property(
        "include_archived_threads",
        th.BooleanType,
        default=True,
        description="Also list archived threads (and read their messages).",
    ),
    th.Property(
        "user_agent",
        th.StringType,
        default=DEFAULT_USER_AGENT,
        description="User-Agent header; Discord requires the `DiscordBot (url, version)` form.",
    ),
    th.Property(
        "max_requests_per_second",
        th.NumberType(minimum=1),
        default=50,
        description="Global request rate cap (Discord allows 50 per second per bot).",
    ),
    th.Property(
        "invalid_request_limit",
        th.IntegerType(minimum=1),
        default=1000,
        description="Stop the run once this many 401/403/429 responses happen within "
        "10 minutes (Discord bans the IP at 10,000).",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1),
        default=30,
        description="Seconds to wait for a response before retrying.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0),
        default=8,
        description="Retries of a failed request (5xx, timeout, dropped connection, "
        "malformed body) before the run stops.",
    ),
    th.Property(
        "max_workers",
        th.IntegerType(minimum=1),
        default=DEFAULT_MAX_WORKERS,
        description="Channels and threads whose message pages are fetched at once, in "
        "worker threads sharing the rate limiter. Discord allows about one message "
        "page per second per channel but 50 requests per second per bot, so many "
        "channels in flight are needed to use that allowance. Records and state are "
        "the same as with 1 (one channel at a time).",
    ),
    th.Property(
        "prefetch_buffer_mb",
        th.IntegerType(minimum=1),
        default=DEFAULT_PREFETCH_BUFFER_MB,
        description="Most message pages (raw JSON, about 1,000 messages per MB) the "
        "worker threads may hold ahead of the output, in MB. Records leave in "
        "channel order, so a channel's pages wait until the channels before it are "
        "written; beyond this buffer they are parked on disk (`prefetch_spill_mb`). "
        "Memory use is about this plus 60 MB, whatever the history size.",
    ),
    th.Property(
        "prefetch_spill_mb",
        th.IntegerType(minimum=0),
        default=DEFAULT_PREFETCH_SPILL_MB,
        description="Most message pages, in MB, parked on disk when "
        "`prefetch_buffer_mb` is full, so that a backfill larger than the buffer "
        "still reads many channels at once at Discord's rate limit (otherwise only "
        "the channel being written is read once the buffer is full). Each channel's "
        "file is emptied as soon as its pages are written, and the files are "
        "unnamed, so nothing is left behind. 0: never park pages on disk.",
    ),
    th.Property(
        "prefetch_spill_dir",
        th.StringType,
        description="Directory for the parked pages of `prefetch_spill_mb` (default: "
        "the system's temporary directory, `TMPDIR`). If that directory is held in "
        "memory (tmpfs), point this at a disk or the parked pages count as memory.",
    ),
).to_dict()


class TapSettings:
    """The settings of one run, read into the types the streams use."""

    def __init__(self, config: Mapping[str, t.Any], logger: logging.Logger) -> None:
        """Read from `config` (already valid against `CONFIG_SCHEMA`) when first asked."""
        self._config = config
        self._logger = logger

    def problems(self) -> list[str]:
        """One line per invalid setting, naming it and what to do."""
        config = self._config
        errors: list[str] = []
        errors.extend(check_auth_settings(config))
        errors.extend(_check_api_url(str(config.get("api_url") or DEFAULT_API_URL)))
        start = config.get("start_date")
        if start:
            try:
                parse_start_date(str(start))
            except ValueError as exc:
                errors.append(
                    f"start_date {start!r} is invalid: {exc}; use e.g. 2024-01-01, "
                    "2024-01-01T00:00:00Z or P30D"
                )
        lookback = config.get("message_lookback")
        if lookback:
            try:
                parse_duration(str(lookback))
            except ValueError as exc:
                errors.append(
                    f"message_lookback {lookback!r} is invalid: {exc}; use e.g. P7D or PT12H"
                )
        spill_dir = self.prefetch_spill_dir
        if spill_dir and not _is_writable_directory(spill_dir):
            errors.append(
                f"prefetch_spill_dir {spill_dir!r} is not a writable directory: create it, "
                "or unset the setting to use the system's temporary directory"
            )
        for key in ("guild_ids", "channel_ids"):
            for value in config.get(key) or []:
                if not is_snowflake(value):
                    errors.append(
                        f"{key} contains {value!r}, which is not a Discord id: use the "
                        "numeric id (Developer Mode → Copy ID)"
                    )
        return errors

    @property
    def auth_mode(self) -> AuthMode:
        """`bot` or `oauth`, from which credentials are set."""
        return auth_mode(self._config)

    @property
    def api_url(self) -> str:
        """The API root without a trailing slash."""
        return str(self._config.get("api_url") or DEFAULT_API_URL).rstrip("/")

    @property
    def user_agent(self) -> str:
        """The User-Agent sent with every request."""
        return str(self._config.get("user_agent") or DEFAULT_USER_AGENT)

    @cached_property
    def start_after(self) -> int:
        """The `after` cursor of a channel's first sync, from `start_date` (0 = all)."""
        start = self._config.get("start_date")
        if not start:
            return 0
        return after_cursor_for(parse_start_date(str(start)))

    @cached_property
    def message_lookback(self) -> dt.timedelta | None:
        """How far before each bookmark messages are read again (None: not at all)."""
        value = self._config.get("message_lookback")
        return parse_duration(str(value)) if value else None

    @property
    def reaction_request_budget(self) -> int:
        """Reaction requests allowed per run (0: no limit)."""
        value = self._config.get("reaction_request_budget", DEFAULT_REACTION_REQUEST_BUDGET)
        return int(value or 0)

    @cached_property
    def emit_activate_version_messages(self) -> bool:
        """Whether complete runs mark vanished full-table rows deleted (`mirror.py`)."""
        return bool(self._config.get("emit_activate_version_messages", False))

    @cached_property
    def configured_guild_ids(self) -> list[str]:
        """`guild_ids` as strings, in the order given, without duplicates."""
        return list(dict.fromkeys(str(v) for v in self._config.get("guild_ids") or []))

    @cached_property
    def configured_channel_ids(self) -> set[str] | None:
        """`channel_ids` as strings, or None when every channel is wanted."""
        values = self._config.get("channel_ids")
        return {str(v) for v in values} if values else None

    @property
    def max_workers(self) -> int:
        """Message targets fetched at once (1: no worker threads)."""
        return int(self._config.get("max_workers", DEFAULT_MAX_WORKERS))

    @property
    def prefetch_buffer_bytes(self) -> int:
        """Bytes of raw message pages the workers may hold ahead of the output."""
        mb = int(self._config.get("prefetch_buffer_mb", DEFAULT_PREFETCH_BUFFER_MB))
        return mb * 1024 * 1024

    @cached_property
    def prefetch_spill_bytes(self) -> int:
        """Bytes of raw message pages the workers may park on disk (0: none).

        At most half the directory's free space; a warning if it is held in memory.
        """
        mb = int(self._config.get("prefetch_spill_mb", DEFAULT_PREFETCH_SPILL_MB))
        budget, warning = spill_budget_for(self.prefetch_spill_dir, mb * 1024 * 1024)
        if warning:
            self._logger.warning("%s", warning)
        return budget

    @property
    def prefetch_spill_dir(self) -> str | None:
        """Where parked pages go (None: the system's temporary directory); `~` expanded."""
        value = self._config.get("prefetch_spill_dir")
        return os.path.expanduser(str(value)) if value else None


def setting_first(error: str) -> str:
    """`X in config['name']` (the SDK's schema errors) as `name: X; change the setting`."""
    found = re.fullmatch(r"(.*) in config\['([^']+)'\](.*)", error)
    if not found:
        return error
    detail, name, index = found.groups()
    return f"{name}{index}: {detail}; change this setting"


def _is_writable_directory(path: str) -> bool:
    """Whether files can be created in `path` (for `prefetch_spill_dir`)."""
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _check_api_url(url: str) -> list[str]:
    """Https anywhere; plain http only to loopback (the emulator)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return [f"api_url {url!r} is not an http(s) URL; use {DEFAULT_API_URL}"]
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return [
            f"api_url {url!r} uses plain http to a non-loopback host; tokens would travel "
            f"unencrypted. Use https (default {DEFAULT_API_URL})"
        ]
    return []


def _is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
