"""The tap: its settings, its streams, and the resources every stream shares.

One `TapDiscord` run owns one rate limiter and one authenticator, so that the global
limit and the invalid-request budget are counted across all streams.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import ipaddress
import os
import re
import sys
import typing as t
from functools import cached_property
from importlib import metadata
from urllib.parse import urlsplit

import click
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import (
    CapabilitiesEnum,
    PluginCapabilities,
    TapCapabilities,
)

from tap_discord import streams
from tap_discord.auth import (
    AUTH_PROPERTIES,
    AuthMode,
    auth_mode,
    build_authenticator,
    check_auth_settings,
    connection_report,
    offered_streams,
    unauthorized_message,
)
from tap_discord.errors import OutputClosedError, UserFacingError
from tap_discord.gctuning import collector_tuned_for_records
from tap_discord.preflight import parse_json_file, state_errors, unknown_selected_streams
from tap_discord.ratelimit import RateLimitedAdapter, RateLimiter
from tap_discord.sharedlists import SharedLists
from tap_discord.snowflake import (
    after_cursor_for,
    is_snowflake,
    parse_duration,
    parse_start_date,
)
from tap_discord.spill import spill_budget_for
from tap_discord.writer import FastSingerWriter, JsonStateWriter

if t.TYPE_CHECKING:
    from types import FrameType

    import requests

    from tap_discord.client import DiscordStream

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


class TapDiscord(Tap):
    """Singer tap for Discord: guilds, channels, threads, messages, members and more."""

    name = "tap-discord"
    package_name = "tap-discord"
    #: The SDK's output, byte for byte, at several times the records per second.
    message_writer_class = FastSingerWriter
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    config_jsonschema = th.PropertiesList(
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
            "require_message_content",
            th.BooleanType,
            default=False,
            description="Stop with an error (exit 1) instead of a warning when the "
            "application's Message Content intent is off, i.e. when Discord would send "
            "other users' messages with empty content, embeds, attachments and components.",
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

    def __init__(self, *args: t.Any, validate_config: bool = True, **kwargs: t.Any) -> None:
        """Validate the settings JSON Schema cannot express, before any request."""
        super().__init__(*args, validate_config=validate_config, **kwargs)
        self._state_writer = JsonStateWriter(self.message_writer)  # no deep copy per STATE
        if validate_config:
            errors = self.check_settings()
            if errors:
                raise ConfigValidationError("Config validation failed", errors=errors)
            self.check_catalog()

    def discover_streams(self) -> list[DiscordStream]:
        """Every stream the tap offers (OAuth2: may ask Discord for the token's scopes)."""
        classes = streams.streams_for(self.auth_mode)
        if self.auth_mode == "oauth" and not self.check_settings():  # what the scopes allow
            classes = tuple(offered_streams(classes, self.authenticator, self.logger))
        return [stream_class(tap=self) for stream_class in classes]

    def load_state(self, state: dict[str, t.Any]) -> None:
        """Refuse a damaged bookmark with one line, before any request or output."""
        errors = state_errors(state)
        if errors:
            raise UserFacingError(errors[0])
        super().load_state(state)

    def check_catalog(self) -> None:
        """Refuse a catalog stream tap-discord lacks; warn about one these credentials lack.

        The SDK silently ignores both, so a typo or a stale catalog would look like a
        successful run that loads nothing. A bot catalog reused in OAuth2 mode (or one
        made with wider scopes) is a known, harmless case: a warning names what is left.
        """
        if self.input_catalog is None:
            return
        selected = unknown_selected_streams(self.input_catalog.to_dict(), self.streams)
        every = {cls.name for cls in (*streams.BOT_STREAMS, *streams.OAUTH_STREAMS)}
        unknown = [name for name in selected if name not in every]
        if unknown:
            raise UserFacingError(
                f"catalog selects stream {unknown[0]!r}, which tap-discord does not have "
                f"(streams: {', '.join(sorted(every))}); fix the name, or rerun --discover "
                "and select from its catalog"
            )
        if selected:
            mode = "OAuth2 credentials" if self.auth_mode == "oauth" else "a bot token"
            self.logger.warning(
                "Not reading %s: the catalog selects them but %s cannot read them (offered: "
                "%s); use the other credentials, or rerun --discover to drop them",
                ", ".join(selected),
                mode,
                ", ".join(sorted(self.streams)),
            )

    # Settings -------------------------------------------------------------------------

    def check_settings(self) -> list[str]:
        """Return one line per invalid setting, naming it and what to do."""
        errors: list[str] = []
        errors.extend(check_auth_settings(self.config))
        errors.extend(_check_api_url(str(self.config.get("api_url") or DEFAULT_API_URL)))
        start = self.config.get("start_date")
        if start:
            try:
                parse_start_date(str(start))
            except ValueError as exc:
                errors.append(
                    f"start_date {start!r} is invalid: {exc}; use e.g. 2024-01-01, "
                    "2024-01-01T00:00:00Z or P30D"
                )
        lookback = self.config.get("message_lookback")
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
            for value in self.config.get(key) or []:
                if not is_snowflake(value):
                    errors.append(
                        f"{key} contains {value!r}, which is not a Discord id: use the "
                        "numeric id (Developer Mode → Copy ID)"
                    )
        return errors

    @property
    def auth_mode(self) -> AuthMode:
        """`bot` or `oauth`, from which credentials are set."""
        return auth_mode(self.config)

    @property
    def api_url(self) -> str:
        """The API root without a trailing slash."""
        return str(self.config.get("api_url") or DEFAULT_API_URL).rstrip("/")

    @property
    def user_agent(self) -> str:
        """The User-Agent sent with every request."""
        return str(self.config.get("user_agent") or DEFAULT_USER_AGENT)

    @cached_property
    def start_after(self) -> int:
        """The `after` cursor of a channel's first sync, from `start_date` (0 = all)."""
        start = self.config.get("start_date")
        if not start:
            return 0
        return after_cursor_for(parse_start_date(str(start)))

    @cached_property
    def message_lookback(self) -> dt.timedelta | None:
        """How far before each bookmark messages are read again (None: not at all)."""
        value = self.config.get("message_lookback")
        return parse_duration(str(value)) if value else None

    @cached_property
    def configured_guild_ids(self) -> list[str]:
        """`guild_ids` as strings, in the order given, without duplicates."""
        return list(dict.fromkeys(str(v) for v in self.config.get("guild_ids") or []))

    @property
    def max_workers(self) -> int:
        """Message targets fetched at once (1: no worker threads)."""
        return int(self.config.get("max_workers", DEFAULT_MAX_WORKERS))

    @property
    def prefetch_buffer_bytes(self) -> int:
        """Bytes of raw message pages the workers may hold ahead of the output."""
        mb = int(self.config.get("prefetch_buffer_mb", DEFAULT_PREFETCH_BUFFER_MB))
        return mb * 1024 * 1024

    @cached_property
    def prefetch_spill_bytes(self) -> int:
        """Bytes of raw message pages the workers may park on disk (0: none).

        At most half the directory's free space; a warning if it is held in memory.
        """
        mb = int(self.config.get("prefetch_spill_mb", DEFAULT_PREFETCH_SPILL_MB))
        budget, warning = spill_budget_for(self.prefetch_spill_dir, mb * 1024 * 1024)
        if warning:
            self.logger.warning("%s", warning)
        return budget

    @property
    def prefetch_spill_dir(self) -> str | None:
        """Where parked pages go (None: the system's temporary directory); `~` expanded."""
        value = self.config.get("prefetch_spill_dir")
        return os.path.expanduser(str(value)) if value else None

    @cached_property
    def configured_channel_ids(self) -> set[str] | None:
        """`channel_ids` as strings, or None when every channel is wanted."""
        values = self.config.get("channel_ids")
        return {str(v) for v in values} if values else None

    # Shared resources -----------------------------------------------------------------

    @cached_property
    def shared_lists(self) -> SharedLists:
        """The guild, channel and thread lists the streams of this run share."""
        return SharedLists(self.streams, self.configured_guild_ids)

    @cached_property
    def limiter(self) -> RateLimiter:
        """The one rate limiter all requests of this run go through."""
        return RateLimiter(
            max_requests_per_second=float(self.config.get("max_requests_per_second", 50)),
            invalid_request_limit=int(self.config.get("invalid_request_limit", 1000)),
            logger=self.logger,
            before_wait=self.flush_output,
        )

    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """The SDK's SIGTERM/SIGINT handling (last STATE, exit 0), never inside a write."""
        handle = functools.partial(super()._handle_termination, signum, frame)
        writer = self.message_writer
        if isinstance(writer, FastSingerWriter):
            writer.run_after_flush(handle)
        else:
            handle()

    def flush_output(self, *, wait: bool = False) -> None:
        """Write out the lines the writer holds, if called by the thread that makes them.

        Called before that thread waits (for a rate limit, a page, a retry), so the
        target gets every record and STATE before a pause, not after it; with `wait`,
        returns once they are written. A failed write (the target stopped reading) is
        fatal, never taken for a failed request.
        """
        writer = self.message_writer
        if not isinstance(writer, FastSingerWriter):
            return
        try:
            writer.flush_if_writer(wait=wait)
        except OSError as exc:
            raise OutputClosedError.of(exc) from exc

    @cached_property
    def authenticator(self) -> requests.auth.AuthBase:
        """One authenticator for the run, for the configured mode."""
        return build_authenticator(
            self.config,
            api_url=self.api_url,
            user_agent=self.user_agent,
            prepare_session=self.mount_rate_limiter,
            logger=self.logger,
        )

    def mount_rate_limiter(self, session: requests.Session) -> None:
        """Route a session's requests through the shared limiter (idempotent)."""
        adapter = session.get_adapter(self.api_url)
        if not isinstance(adapter, RateLimitedAdapter):
            limited = RateLimitedAdapter(self.limiter)
            session.mount("http://", limited)
            session.mount("https://", limited)

    def refresh_after_unauthorized(self) -> bool:
        """Whether a 401 should be retried once with fresh credentials (OAuth2 only)."""
        refresh = getattr(self.authenticator, "refresh_after_unauthorized", None)
        return bool(refresh()) if callable(refresh) else False

    def unauthorized_message(self, path: str) -> str:
        """The one line for a 401: which credential to fix, never its value."""
        return unauthorized_message(self.config, path)

    # Running --------------------------------------------------------------------------

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test=auth` prints who the credentials are (no secret); errors are one line."""
        try:
            if value != "auth":
                super().cb_test(ctx, param, value)
                return
            config = ctx.params.get("config")
            tap = cls(
                config=getattr(config, "config", None),
                parse_env_config=bool(getattr(config, "parse_env", False)),
            )
            for line in connection_report(tap):
                click.echo(line)
        except UserFacingError as exc:
            cls.logger.error("%s", exc)
            ctx.exit(1)
        except ConfigValidationError as exc:
            for error in exc.errors:
                cls.logger.error("Config validation error: %s", error)
            ctx.exit(1)
        ctx.exit()

    @classmethod
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """Discovery may ask Discord for an OAuth2 token's scopes; its errors are one line."""
        try:
            super().cb_discover(ctx, param, value)
        except UserFacingError as exc:
            cls.logger.error("%s", exc)
            ctx.exit(1)

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the tap; a user error becomes one line on stderr and exit code 1.

        The garbage collector is tuned for the run's many short-lived records.
        """
        try:
            for name in ("state", "catalog"):
                kwargs[name] = _checked_json_file(kwargs.get(name), f"--{name} file")
            with collector_tuned_for_records():
                super().invoke(*args, **kwargs)
        except UserFacingError as exc:
            cls.logger.error("%s", exc)
            sys.exit(1)
        except ConfigValidationError as exc:
            # One line per bad setting, without the SDK's extra "Config validation failed".
            for error in exc.errors:
                cls.logger.error("%s", _setting_first(error))
            sys.exit(1)


def _setting_first(error: str) -> str:
    """`X in config['name']` (the SDK's schema errors) as `name: X; change the setting`."""
    found = re.fullmatch(r"(.*) in config\['([^']+)'\](.*)", error)
    if not found:
        return error
    detail, name, index = found.groups()
    return f"{name}{index}: {detail}; change this setting"


def _checked_json_file(handle: t.IO[str] | None, what: str) -> t.IO[str] | None:
    """The file again (re-readable), or a one-line error if it is not a JSON object."""
    if handle is None:
        return None
    text = handle.read()
    _, error = parse_json_file(text, f"{what} {getattr(handle, 'name', '')!r}".strip())
    if error:
        raise UserFacingError(error)
    return io.StringIO(text)


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
