"""The tap: its streams, wired to the settings and resources they share.

One `TapDiscord` run owns one rate limiter and one authenticator, so that the global
limit and the invalid-request budget are counted across all streams.
"""

from __future__ import annotations

import functools
import signal
import sys
import typing as t
from functools import cached_property

import click
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import (
    CapabilitiesEnum,
    PluginCapabilities,
    TapCapabilities,
)
from typing_extensions import override

from tap_discord import streams
from tap_discord.auth import (
    build_authenticator,
    connection_report,
    offered_streams,
    unauthorized_message,
)
from tap_discord.errors import OutputClosedError, UserFacingError
from tap_discord.gctuning import collector_tuned_for_records
from tap_discord.mirror import MirrorLedger
from tap_discord.observed import MessageObservations
from tap_discord.preflight import checked_json_file, state_errors, unknown_selected_streams
from tap_discord.progress import Progress
from tap_discord.ratelimit import RateLimitedAdapter, RateLimiter, RateLimitStats
from tap_discord.runlock import run_files_dir, run_lock
from tap_discord.runreport import CURRENT_RUN, RunReport
from tap_discord.sdklogs import quiet_selection_lines
from tap_discord.settings import CONFIG_SCHEMA, TapSettings, setting_first
from tap_discord.sharedlists import SharedLists
from tap_discord.streams.following import MESSAGE_FOLLOWER_STREAMS
from tap_discord.writer import FastSingerWriter, JsonStateWriter

if t.TYPE_CHECKING:
    from types import FrameType

    import requests

    from tap_discord.client import DiscordStream


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
        TapCapabilities.ACTIVATE_VERSION,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    config_jsonschema = CONFIG_SCHEMA

    def __init__(self, *args: t.Any, validate_config: bool = True, **kwargs: t.Any) -> None:
        """Validate the settings JSON Schema cannot express, before any request."""
        quiet_selection_lines()  # before the SDK resolves the catalog's selection
        super().__init__(*args, validate_config=validate_config, **kwargs)
        # No deep copy per STATE; a private SDK attribute (see sdkcontract.py).
        self._state_writer = JsonStateWriter(self.message_writer)
        self.run_report = CURRENT_RUN.get()
        self.count_output()
        if validate_config:
            errors = self.settings.problems()
            if errors:
                raise ConfigValidationError("Config validation failed", errors=errors)
            self.check_catalog()

    def count_output(self) -> None:
        """Let the progress lines and the run summary count what the writer sends."""
        writer = self.message_writer
        records: dict[str, int] = {}
        if isinstance(writer, FastSingerWriter):
            writer.tick = self.progress.tick
            records = writer.record_counts
        if self.run_report is not None:
            limit = int(self.config.get("invalid_request_limit", 1000))
            self.run_report.follow(records, self.rate_limit_stats, limit)

    @override
    def discover_streams(self) -> list[DiscordStream]:
        """Every stream the tap offers (OAuth2: may ask Discord for the token's scopes)."""
        mode = self.settings.auth_mode
        classes = streams.streams_for(mode)
        if mode == "oauth" and not self.settings.problems():  # what the scopes allow
            classes = tuple(offered_streams(classes, self.authenticator, self.logger))
        return [stream_class(tap=self) for stream_class in classes]

    @override
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
            mode = "OAuth2 credentials" if self.settings.auth_mode == "oauth" else "a bot token"
            self.logger.warning(
                "Not reading %s: the catalog selects them but %s cannot read them (offered: "
                "%s); use the other credentials, or rerun --discover to drop them",
                ", ".join(selected),
                mode,
                ", ".join(sorted(self.streams)),
            )

    # Shared resources -----------------------------------------------------------------

    @cached_property
    def settings(self) -> TapSettings:
        """The run's settings, in the types the streams use."""
        return TapSettings(self.config, self.logger)

    @cached_property
    def shared_lists(self) -> SharedLists:
        """The guild, channel and thread lists the streams of this run share."""
        return SharedLists(self.streams, self.settings.configured_guild_ids)

    @cached_property
    def mirror(self) -> MirrorLedger:
        """The run's table version, and what it read incompletely (deletions wait)."""
        return MirrorLedger(
            self.initialized_at,
            enabled=self.settings.emit_activate_version_messages,
            logger=self.logger,
        )

    @cached_property
    def message_observations(self) -> MessageObservations:
        """What this run's messages showed the streams that follow them (observed.py)."""
        observations = MessageObservations()
        observations.wanted = any(
            stream.selected
            for name, stream in self.streams.items()
            if name in MESSAGE_FOLLOWER_STREAMS
        )
        return observations

    @cached_property
    def limiter(self) -> RateLimiter:
        """The one rate limiter all requests of this run go through."""
        return RateLimiter(
            max_requests_per_second=float(self.config.get("max_requests_per_second", 50)),
            invalid_request_limit=int(self.config.get("invalid_request_limit", 1000)),
            logger=self.logger,
            before_wait=self.flush_output,
        )

    @cached_property
    def progress(self) -> Progress:
        """The run's progress lines (made on, and only ever logged from, this thread)."""
        writer = self.message_writer
        if isinstance(writer, FastSingerWriter):
            return Progress(self.logger, writer.record_counts, lambda: writer.last_stream)
        return Progress(self.logger, {})

    def rate_limit_stats(self) -> RateLimitStats | None:
        """What the limiter has seen, if this run made one (None before any request)."""
        limiter = self.__dict__.get("limiter")
        return limiter.stats if isinstance(limiter, RateLimiter) else None

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """The SDK's SIGTERM/SIGINT handling (last STATE, exit 0), never inside a write.

        The run summary is logged first. A private SDK hook (see sdkcontract.py).
        """
        stop = functools.partial(super()._handle_termination, signum, frame)

        def handle() -> None:
            if self.run_report is not None:
                name = signal.Signals(signum).name
                self.run_report.finish("terminated", 0, f"stopped by {name}")
            stop()

        writer = self.message_writer
        if isinstance(writer, FastSingerWriter):
            writer.run_after_flush(handle)
        else:
            handle()

    def flush_output(self, *, wait: bool = False) -> None:
        """Write out the lines the writer holds, if called by the thread that makes them.

        The one rule: the thread that makes the Singer output writes it out before it
        waits, so the target gets every record and STATE before a pause, not after it.
        With `wait`, returns once they are written. A failed write (the target stopped
        reading) is fatal, never taken for a failed request. Called from any thread;
        only the thread that makes the lines (the main thread) writes anything.

        Every caller, and why each calls it where it does (the waits differ in kind, so
        each place that waits calls this hook itself, handed it as `before_wait` where
        the waiting code knows nothing of the tap):

        * `TapDiscord.limiter` hands it to the rate limiter, whose `Sleeper.sleep` calls
          it before a rate-limit sleep of `waits.BEFORE_WAIT_MIN_SECONDS` or more (shorter
          ones are the pacing between requests, not worth a hand-over each).
        * `MessagesStream.prefetcher` hands it to the `Prefetcher`, whose `_take` calls
          it when the main thread is about to wait for a page no worker has delivered.
        * `MessageFollowerStream.prefetcher` does the same for the pages of reaction
          users (`message_reactions`) fetched ahead by worker threads.
        * `MessagesStream.get_records` hands it to `FirstContact`, whose `first` calls
          it when a thread is about to wait for another thread's answer to a channel's
          first request (the thread listing runs while workers read the channels).
        * `DiscordStream.backoff_handler`, which backoff calls before it sleeps for a
          retry: the stream knows the tap, so it calls this directly.
        * `DiscordStream.finalize_state_progress_markers`, with `wait`: no wait follows,
          but it is the end of a stream the SDK syncs, and nothing may be left unwritten
          when `sync_all` returns (the tap may run inside another program).

        `tests/test_output_flush.py` checks that this list names every caller.
        """
        writer = self.message_writer
        if not isinstance(writer, FastSingerWriter):
            return
        self.progress.tick()  # a wait may be long: say where the run is first
        try:
            writer.flush_if_writer(wait=wait)
        except OSError as exc:
            raise OutputClosedError.of(exc) from exc

    @cached_property
    def authenticator(self) -> requests.auth.AuthBase:
        """One authenticator for the run, for the configured mode."""
        return build_authenticator(
            self.config,
            api_url=self.settings.api_url,
            user_agent=self.settings.user_agent,
            prepare_session=self.mount_rate_limiter,
            logger=self.logger,
        )

    def mount_rate_limiter(self, session: requests.Session) -> None:
        """Route a session's requests through the shared limiter (idempotent)."""
        adapter = session.get_adapter(self.settings.api_url)
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
    @override
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
    @override
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        """Discovery may ask Discord for an OAuth2 token's scopes; its errors are one line."""
        try:
            super().cb_discover(ctx, param, value)
        except UserFacingError as exc:
            cls.logger.error("%s", exc)
            ctx.exit(1)

    @classmethod
    @override
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """Run the tap; a user error becomes one line on stderr and exit code 1.

        The run ends with its summary (`runreport.py`), whatever the outcome. The
        garbage collector is tuned for the run's many short-lived records.
        """
        report = None if kwargs.get("about") else RunReport(cls.logger)
        token = CURRENT_RUN.set(report)
        try:
            cls._invoke_alone(*args, **kwargs)
        except UserFacingError as exc:
            cls.logger.error("%s", exc)
            _finish(report, "failed", 1, str(exc))
            sys.exit(1)
        except ConfigValidationError as exc:
            # One line per bad setting, without the SDK's extra "Config validation failed".
            for error in exc.errors:
                cls.logger.error("%s", setting_first(error))
            _finish(report, "failed", 1, setting_first(exc.errors[0]) if exc.errors else None)
            sys.exit(1)
        except SystemExit as exc:  # SIGTERM/SIGINT: `_handle_termination` reported it
            _finish(report, "exited", exc.code if isinstance(exc.code, int) else 1)
            raise
        except BaseException as exc:
            _finish(report, "failed", 1, f"{type(exc).__name__}: {_first_line(exc)}")
            raise
        else:
            _finish(report, "succeeded", 0)
        finally:
            CURRENT_RUN.reset(token)

    @classmethod
    def _invoke_alone(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """The SDK's run, alone on its --state/--catalog files, which are checked first."""
        with run_lock(run_files_dir(kwargs.get("state"), kwargs.get("catalog"))):
            for name in ("state", "catalog"):
                kwargs[name] = checked_json_file(kwargs.get(name), f"--{name} file")
            with collector_tuned_for_records():
                super().invoke(*args, **kwargs)


def _finish(
    report: RunReport | None, status: str, exit_code: int, error: str | None = None
) -> None:
    """Log the run summary, if this was a run (not --about)."""
    if report is not None:
        report.finish(status, exit_code, error)


def _first_line(exc: BaseException) -> str:
    """An unexpected error's message, first line only and short (the traceback follows)."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
