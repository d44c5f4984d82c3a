"""The Discord base stream: URL, authentication, headers, retries and error mapping.

Every request of every stream goes through `DiscordStream`: its session carries the
tap's shared rate limiter (see `ratelimit/`), its responses are mapped to what the
user has to do (`validate_response`), and transient failures are retried with the
SDK's backoff hooks.
"""

from __future__ import annotations

import datetime
import functools
import logging
import typing as t

import backoff
import requests
import singer_sdk.singerlib as singer
from requests.cookies import RequestsCookieJar, merge_cookies
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.helpers.jsonpath import extract_jsonpath
from singer_sdk.pagination import BaseAPIPaginator, SinglePagePaginator
from singer_sdk.streams import RESTStream
from singer_sdk.streams.rest import HTTPRequest, PageContext
from typing_extensions import override

from tap_discord.errors import (
    AuthenticationError,
    RequestFailedError,
    ResourceSkippedError,
)
from tap_discord.prefetch import Page, response_shell
from tap_discord.recordcheck import RecordCheck
from tap_discord.responses import error_code, response_json
from tap_discord.sdkcontract import conform_record_data_types, utc_now
from tap_discord.session import DiscordSession

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_discord.tap import TapDiscord

RETRY_BASE_SECONDS = 0.5
#: What is worth another try: rate limits, 5xx, bad bodies, timeouts, dropped connections.
RETRIABLE_EXCEPTIONS = (
    RetriableAPIError,
    ConnectionResetError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
RETRY_MAX_WAIT_SECONDS = 30.0
#: How the SDK's `request_records` says a list ended on an empty page.
SDK_EMPTY_PAGE_END = "Pagination stopped after"
#: How the SDK announces a stream's failure before re-raising it.
SDK_FAILURE_ECHO = "An unhandled error occurred while syncing"

#: Why Discord says no, by JSON error code, when a stream has nothing more specific.
DEFAULT_FORBIDDEN_REASONS: dict[int | None, str] = {
    50001: "Missing Access (50001): the bot cannot view this channel or resource (grant "
    "it View Channel, or invite it to the guild)",
    50013: "Missing Permissions (50013): the bot lacks a permission for this resource",
}
NOT_FOUND_REASONS: dict[int | None, str] = {
    10003: "Unknown Channel (10003): it was deleted or is not visible",
    10004: "Unknown Guild (10004): the bot is not in this guild, or it was deleted",
    10008: "Unknown Message (10008): it was deleted",
}


class DiscordStream(RESTStream[t.Any]):
    """Base class of every Discord stream."""

    records_jsonpath = "$[*]"
    #: Reasons shown in the skip warning for a 403, by Discord error code (stream-specific).
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = {}
    #: A full-table stream that lists everything Discord holds of its kind: a complete
    #: run marks the rows it no longer returns deleted (`mirror.py`).
    mirrors_deletions: t.ClassVar[bool] = False
    #: Other streams whose gaps leave this one incomplete too (besides its parents).
    mirror_depends_on: t.ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Records of a mirrored stream carry the run's table version (`mirror.py`).

        It sets the SDK's private `_stream_version` (see sdkcontract.py), which the SDK
        would set only when it writes its own `ACTIVATE_VERSION`, at the wrong time.
        """
        super().__init__(*args, **kwargs)
        mirror = self.discord_tap.mirror
        if self.mirrors_deletions and mirror.enabled:
            self._stream_version = mirror.version

    @property
    def discord_tap(self) -> TapDiscord:
        """The tap that owns the shared limiter, authenticator and caches."""
        return t.cast("TapDiscord", self._tap)  # private SDK attribute: sdkcontract.py

    @property
    @override
    def url_base(self) -> str:
        """Discord's API root (or the emulator's, for tests and the demo)."""
        return self.discord_tap.settings.api_url

    @property
    @override
    def authenticator(self) -> requests.auth.AuthBase:
        """One authenticator per tap run, shared by every stream."""
        return self.discord_tap.authenticator

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        """Discord asks for `User-Agent: DiscordBot (url, version)` and may block others."""
        return {"User-Agent": self.discord_tap.settings.user_agent}

    @property
    @override
    def timeout(self) -> int:
        """Seconds before a request is abandoned and retried (setting `request_timeout`)."""
        return int(self.config.get("request_timeout", 30))

    @override
    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        """Log, minus the SDK's per-stream "unhandled error" echo; its end of list at DEBUG.

        The tap prints the cause of a failure once (`TapDiscord.invoke`), and the
        connection test's deliberate stop after one record is no error at all. The SDK
        says at INFO when a list ends on an empty page; for Discord's lists that is
        their ordinary end (a channel with no archived threads: two such lines per
        channel), nothing a person acts on.
        """
        if message.startswith(SDK_FAILURE_ECHO):
            return
        if message.startswith(SDK_EMPTY_PAGE_END):
            level = logging.DEBUG
        super().log(message, *args, level=level, **kwargs)

    @property
    @override
    def requests_session(self) -> requests.Session:
        """The stream's session, with the tap's rate-limited adapter mounted once.

        It sets the SDK's private `_requests_session` (see sdkcontract.py).
        """
        if not isinstance(self._requests_session, DiscordSession):
            self._requests_session = DiscordSession()  # proxies looked up once
        session = super().requests_session
        self.discord_tap.mount_rate_limiter(session)
        return session

    # Deletions (mirror.py) ------------------------------------------------------------

    @property
    @override
    def emit_activate_version_messages(self) -> bool:
        """Never the SDK's `ACTIVATE_VERSION` at the start of a sync (`mirror.py`: why).

        The tap writes its own at the end of a complete run (`activate_versions`).
        """
        return False

    @override
    def preprocess_context(self, context: Context) -> Context:
        """Note that this stream synced a partition (so its SCHEMA went out this run)."""
        self.discord_tap.mirror.synced(self.name)
        return super().preprocess_context(context)

    def activate_versions(self) -> None:
        """`ACTIVATE_VERSION` for this stream and its descendants read completely this run."""
        pending: list[DiscordStream] = [self]
        while pending:
            stream = pending.pop(0)
            stream.activate_version()
            pending.extend(t.cast("list[DiscordStream]", stream.child_streams))

    def activate_version(self) -> None:
        """Write the `ACTIVATE_VERSION` of a mirrored stream that was read completely."""
        mirror = self.discord_tap.mirror
        if not (mirror.enabled and self.mirrors_deletions and self.selected):
            return
        if self.ABORT_AT_RECORD_COUNT is not None:  # a record limit (--test): never complete
            return
        if self.parent_stream_type is not None and not mirror.has_synced(self.name):
            return  # no partition this run (no guild): no SCHEMA went out either
        why = mirror.first_gap(self.mirror_scope())
        if why is not None:
            mirror.wait_for_complete_run(self.name, why)
            return
        self._write_activate_version_message(mirror.version)

    def mirror_scope(self) -> list[str]:
        """The streams whose gaps leave this one incomplete: itself, its parents, others."""
        names = [self.name]
        parent = self.parent_stream_type
        while parent is not None:
            names.append(str(vars(parent).get("name") or parent.__name__))
            parent = parent.parent_stream_type
        return [*names, *self.mirror_depends_on]

    # Responses --------------------------------------------------------------------

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Map a response to retry, skip, or a fatal one-line error."""
        status = response.status_code
        if 200 <= status < 300:
            self._require_json(response)
            return
        path = response.request.path_url.split("?", 1)[0] if response.request else "?"
        code, message = error_code(response)
        if status == 429 or status >= 500:
            raise RetriableAPIError(f"{status} {message or response.reason} on {path}", response)
        if status == 401:
            if self.discord_tap.refresh_after_unauthorized():
                raise RetriableAPIError(f"401 on {path}; retrying with a fresh token", response)
            raise AuthenticationError(self.unauthorized_message(path))
        if status == 403:
            reason = self.forbidden_reasons.get(code) or DEFAULT_FORBIDDEN_REASONS.get(
                code, f"403 Forbidden ({code}): {message}"
            )
            raise ResourceSkippedError(path, reason, status=status, code=code)
        if status == 404:
            reason = NOT_FOUND_REASONS.get(code, f"404 Not Found ({code}): {message}")
            raise ResourceSkippedError(path, reason, status=status, code=code)
        raise RequestFailedError(
            f"Discord refused GET {path} with {status} ({code}): {message}. "
            "This is a bug in tap-discord or a changed API; please report it."
        )

    def unauthorized_message(self, path: str) -> str:
        """The one line shown when Discord answers 401: the credentials are wrong."""
        return self.discord_tap.unauthorized_message(path)

    def _require_json(self, response: requests.Response) -> None:
        """Turn a 2xx with a truncated or HTML body into a retry."""
        try:
            response_json(response)
        except requests.RequestException as exc:
            raise RetriableAPIError(str(exc), response) from exc

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """Yield the records of a page, from the one parse `response_json` made."""
        body = response_json(response)
        if self.records_jsonpath == "$[*]" and isinstance(body, list):
            yield from self.checked(body, response)  # bare JSON arrays need no JSONPath walk
        else:
            yield from self.checked(extract_jsonpath(self.records_jsonpath, body), response)

    @functools.cached_property
    def record_check(self) -> RecordCheck:
        """The top-level shape check of this stream's records (see recordcheck.py)."""
        return RecordCheck(self.name, self.schema, self.primary_keys or (), self.logger)

    def checked(self, records: Iterable[t.Any], response: requests.Response) -> Iterator[dict]:
        """Records fit for the schema: repaired with a warning, or one error naming it."""
        where = response.request.path_url.split("?", 1)[0] if response.request else self.path
        check = self.record_check.check
        for record in records:
            yield check(record, where)

    # Retries --------------------------------------------------------------------------

    @override
    def backoff_max_tries(self) -> int:
        """How many attempts a request gets before the run fails (setting `max_retries`)."""
        return int(self.config.get("max_retries", 8)) + 1

    @override
    def backoff_wait_generator(self) -> Generator[float, t.Any, None]:
        """Exponential waits for failures; no extra wait for a 429.

        A 429 has already paused its bucket (or every request, if global) in the rate
        limiter, which makes the retry wait exactly `retry_after` before it is sent.
        """
        expo = backoff.expo(base=2, factor=RETRY_BASE_SECONDS, max_value=RETRY_MAX_WAIT_SECONDS)
        next(expo)
        exception = yield 0.0
        while True:
            if _is_rate_limited(exception):
                exception = yield 0.0
            else:
                exception = yield float(next(expo) or 0.0)

    @override
    def backoff_jitter(self, value: float) -> float:
        """Full jitter: spreads retries of parallel workers apart."""
        return float(backoff.full_jitter(value)) if value else 0.0

    @override
    def backoff_handler(self, details: t.Mapping[str, t.Any]) -> None:
        """Log a retry (INFO when the wait is long enough to notice) without the request.

        The output so far is written out first: the retry may wait a while (the rule
        and its other call sites: `TapDiscord.flush_output`).
        """
        self.discord_tap.flush_output()
        exception = details.get("exception")
        wait = float(details.get("wait") or 0.0)
        level = logging.INFO if wait >= 1.0 or not _is_rate_limited(exception) else logging.DEBUG
        self.logger.log(
            level,
            "Retrying %s in %.1f s after try %d: %s",
            self.path,
            wait,
            details.get("tries", 0),
            _describe_failure(exception),
        )

    @override
    def request_decorator(
        self, func: Callable[..., requests.Response]
    ) -> Callable[..., requests.Response]:
        """Retry with backoff, then fail with one line naming the URL path.

        Built like the SDK's decorator but without backoff's own log lines (our
        `backoff_handler` logs each retry; the final error is printed once).
        """
        retrying = backoff.on_exception(
            self.backoff_wait_generator,
            RETRIABLE_EXCEPTIONS,
            max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler,
            jitter=self.backoff_jitter,
            logger=None,
        )(func)
        tries = self.backoff_max_tries()

        def send(prepared: requests.PreparedRequest, context: Context | None) -> requests.Response:
            try:
                return retrying(prepared, context)
            except RETRIABLE_EXCEPTIONS as exc:
                path = (prepared.path_url or "").split("?", 1)[0]
                raise RequestFailedError(
                    f"{prepared.method} {path} still failed after {tries} tries "
                    f"(last: {_describe_failure(exc)}); Discord may be having trouble, "
                    "rerun later (the next run resumes from the saved state)"
                ) from exc

        return send

    def get_json(self, url: str, *, retries: bool = True) -> t.Any:
        """One GET outside the stream's own records (e.g. the application's flags).

        Same limiter, checks and retries as a page, no record metric; 403/404 raise
        ResourceSkippedError and exhausted retries RequestFailedError, as for pages.
        `retries=False` makes one attempt, whose failure is raised as it is (a
        `RetriableAPIError` or a `requests` exception): a connection check answers at
        once rather than after the back-off.
        """
        session = self.requests_session
        send: t.Callable[[requests.PreparedRequest, Context | None], requests.Response]
        send = functools.partial(self._send_with, session)
        if retries:
            send = self.request_decorator(send)
        request = requests.Request("GET", url, headers={"User-Agent": self.user_agent})
        session.auth = self.authenticator
        return response_json(send(session.prepare_request(request), None))

    # Worker threads (see prefetch.py) ---------------------------------------------------

    def new_worker_session(self) -> requests.Session:
        """A session for one worker thread (sessions are not shared across threads).

        It carries the tap's shared rate limiter, like the stream's own session.
        """
        session = DiscordSession()
        self.discord_tap.mount_rate_limiter(session)
        return session

    def fetch_pages(
        self, session: requests.Session, context: Context, priority: int | None = None
    ) -> Generator[Page, None, None]:
        """The messages stream's page loop, in place of the SDK's `request_records`.

        Every other stream reads through `request_records`; messages always come
        through here (on a worker thread's session when prefetched, on the stream's own
        session otherwise). What both share: `get_new_paginator` (through
        `new_page_paginator`), `get_http_request`, `request_decorator` (retries and
        back-off), `validate_response`, the authenticator and the tap's rate limiter.
        How this loop differs, and why:

        * it yields whole pages as raw bodies and touches no SDK state, meter or
          writer, so it may run in any thread; `records_of_pages` turns the pages into
          records on the main thread, and counts the SDK's requests there;
        * it logs the SDK's request-duration metric of each page itself (logging is
          thread-safe), so that the main thread, which bounds an unthrottled run, does
          not give the GIL away for a write to stderr at every page;
        * later pages reuse the previous page's prepared request with the new cursor
          (`_next_page_request`) rather than preparing each one anew;
        * `priority` places this thread in the limiter's global queue, so the channel
          being written is served first.
        """
        paginator = self.new_page_paginator(context)
        send = self.request_decorator(functools.partial(self._send_with, session))
        limiter = self.discord_tap.limiter
        limiter.set_priority(priority)  # this thread's place in the global queue
        previous: tuple[HTTPRequest, requests.PreparedRequest] | None = None
        try:
            while not paginator.finished:
                page = PageContext(stream_context=context, next_page_token=paginator.current_value)
                http_request = self.get_http_request(page=page)
                prepared = self._next_page_request(session, http_request, previous)
                previous = (http_request, prepared)
                response = send(prepared, context)
                self._write_request_duration_log(  # private SDK method: sdkcontract.py
                    endpoint=self.path, response=response, context=context, extra_tags=None
                )
                shell = response_shell(response.status_code, response.url)
                yield Page(response.content, shell, self.newest_first(response))
                paginator.advance(response)
        finally:
            limiter.set_priority(None)

    def records_of_pages(self, pages: Iterable[Page], context: Context) -> Iterator[dict]:
        """The records of pages fetched by a worker, with the SDK's request counter.

        Main thread only: the request counter is an SDK meter.
        """
        with self.get_http_request_counter() as request_counter:
            request_counter.with_context(context)
            try:
                for page in pages:
                    request_counter.increment()
                    records = self.page_records(page)
                    self._extracted_at = page.extracted_at
                    yield from records
            finally:
                self._extracted_at = None

    def newest_first(self, response: requests.Response) -> bool:
        """Whether a page's records come newest first (lets `page_records` skip a sort)."""
        return False

    def new_page_paginator(self, context: Context) -> BaseAPIPaginator:
        """The paginator of one target's pages (`fetch_pages`)."""
        return self.get_new_paginator() or SinglePagePaginator()

    def page_records(self, page: Page) -> Iterable[dict]:
        """The records of a page fetched by `fetch_pages` (main thread)."""
        response = requests.Response()
        response._content = page.body
        response.status_code = page.response.status_code
        return self.parse_response(response)

    def _next_page_request(
        self,
        session: requests.Session,
        http_request: HTTPRequest,
        previous: tuple[HTTPRequest, requests.PreparedRequest] | None,
    ) -> requests.PreparedRequest:
        """`_prepare_http_request`, or the previous page's request with this page's query.

        Why: `Session.prepare_request` merges settings, hooks, cookies and headers anew
        for every page, all of it holding the GIL the main thread needs. A page whose
        request differs from the previous one's only in its parameters (the cursor)
        gets a copy of that request with a new URL and the session's current cookies:
        the request `prepare_request` builds (the authenticator signs every request as
        it is sent).
        """
        if previous is not None:
            last, prepared = previous
            if (
                http_request.method == last.method
                and http_request.url == last.url
                and http_request.headers == last.headers
                and http_request.data is None
                and last.data is None
            ):
                copy = prepared.copy()
                copy.prepare_url(http_request.url, http_request.encode_params())
                copy.headers.pop("Cookie", None)  # a response may have set or expired one
                copy.prepare_cookies(merge_cookies(RequestsCookieJar(), session.cookies))
                return copy
        return self._prepare_http_request(session, http_request)

    def _prepare_http_request(
        self, session: requests.Session, http_request: HTTPRequest
    ) -> requests.PreparedRequest:
        """A request of the SDK's `HTTPRequest`, prepared on `session` (settings, auth)."""
        body = "json" if self.payload_as_json else "data"
        request = requests.Request(
            method=http_request.method,
            url=http_request.url,
            params=http_request.encode_params(),
            headers=http_request.headers,
            **{body: http_request.data},
        )
        request.headers.setdefault("User-Agent", self.user_agent)
        session.auth = self.authenticator
        return session.prepare_request(request)

    def _send_with(
        self, session: requests.Session, prepared: requests.PreparedRequest, context: Context
    ) -> requests.Response:
        """The SDK's `_request` on `session`, without its metric (a worker must not log it)."""
        response = session.send(
            self.authenticator(prepared),
            timeout=self.timeout,
            allow_redirects=self.allow_redirects,
        )
        self.validate_response(response)
        return response

    # Records --------------------------------------------------------------------------

    @override
    def finalize_state_progress_markers(self, state: dict | None = None) -> None:
        """The SDK's step after a top-level stream; then the output so far is written out.

        The writer collects lines into blocks (`writer.py`); writing them here, at the
        end of each stream the SDK syncs, leaves nothing unwritten when `sync_all`
        returns, even when the tap runs inside another program.
        """
        super().finalize_state_progress_markers(state)
        if self.parent_stream_type is None and not state:
            # The end of a top-level stream the SDK syncs: every partition of it and of
            # its children has been read (mirror.py).
            self.activate_versions()
        self.discord_tap.flush_output(wait=True)

    @override
    def generate_child_contexts(
        self, record: dict[str, t.Any], context: Context | None
    ) -> Iterable[Context | None]:
        """No child context at all for a stream without child streams.

        Why: the SDK builds and copies one for every record even when no stream would
        use it, work on the main thread for every message record.
        """
        if not self.child_streams:
            return ()
        return super().generate_child_contexts(record, context)

    #: When the page whose records are being written arrived (`records_of_pages`).
    _extracted_at: datetime.datetime | None = None

    @functools.cached_property
    def _all_properties_selected(self) -> bool:
        """Whether the catalog deselects nothing of this stream (then no record changes)."""
        return all(self.mask.values())

    @override
    def _generate_record_messages(
        self, record: dict[str, t.Any]
    ) -> Generator[singer.RecordMessage, None, None]:
        """The SDK's RECORD messages, without its deselection walk when nothing is deselected.

        Why: the SDK walks every nested dict of every record looking for deselected
        properties, even when the catalog deselects none, and message records nest
        deeply. When it deselects some, the SDK's own method runs.

        Records of a fetched page carry the time the page arrived as `time_extracted`
        (the SDK takes the time each record is written, seconds later when prefetched).

        A private SDK hook, as are the attributes it reads (see sdkcontract.py).
        """
        if not self._all_properties_selected:
            for message in super()._generate_record_messages(record):
                message.time_extracted = self._extracted_at or message.time_extracted
                yield message
            return
        if self.TYPE_CONFORMANCE_LEVEL != TypeConformanceLevel.NONE:  # NONE: record as is
            record = conform_record_data_types(
                stream_name=self.name,
                record=record,
                schema=self.effective_schema,
                level=self.TYPE_CONFORMANCE_LEVEL,
                logger=self.logger,
            )
        for stream_map in self.stream_maps:
            mapped_record = stream_map.transform(record)
            if mapped_record is not None:
                yield singer.RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped_record,
                    version=self._stream_version,
                    time_extracted=self._extracted_at or utc_now(),
                )

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read the stream, skipping (with one warning) what Discord will not show us."""
        self.discord_tap.progress.begin(self.name, context)
        try:
            yield from self.request_records(context)
        except ResourceSkippedError as exc:
            self.warn_skipped(exc, context)

    def note_gap(self, exc: ResourceSkippedError, context: Context | None) -> None:
        """Record that this run did not read all of this stream (no deletions: mirror.py)."""
        self.discord_tap.mirror.gap(self.name, f"{exc.resource} was skipped")

    def warn_skipped(self, exc: ResourceSkippedError, context: Context | None) -> None:
        """One WARNING naming the stream, the resource and the missing permission.

        The stream is not read completely this run: it marks no row deleted (mirror.py).
        """
        where = ", ".join(f"{k}={v}" for k, v in (context or {}).items())
        self.note_gap(exc, context)
        report = self.discord_tap.run_report
        if report is not None:
            report.skip(self.name, context, f"{exc.resource}: {exc.reason}")
        self.logger.warning(
            "Skipping %s%s (%s): %s",
            self.name,
            f" for {where}" if where else "",
            exc.resource,
            exc.reason,
        )


def _is_rate_limited(exception: object) -> bool:
    """Tell a 429 apart from other retriable failures."""
    response = getattr(exception, "response", None)
    return response is not None and getattr(response, "status_code", None) == 429


def _describe_failure(exception: object) -> str:
    """A short, secret-free description of why a try failed."""
    response = getattr(exception, "response", None)
    if isinstance(exception, RetriableAPIError) and response is not None:
        status = f"{response.status_code} {response.reason or ''}".strip()
        # A 2xx is retried only for a truncated or non-JSON body: say so, not just "200 OK".
        if response.status_code < 300:
            return f"{status}, but the {exception}"
        # A 4xx other than 429 is retried only when a stream knows it to be transient.
        return f"{status}: {exception}" if 400 <= response.status_code < 500 else status
    if isinstance(exception, requests.Timeout):
        return "timed out"
    if isinstance(exception, requests.ConnectionError | ConnectionResetError):
        return "connection dropped"
    return type(exception).__name__
