"""The emulator: settings, request log, dispatch, ground-truth helpers, lifecycle.

`Emulator.dispatch` turns one HTTP request into one `Response`, in Discord's
order: Cloudflare ban, injected fault, route match, authentication, global limit,
route bucket, then the route itself (routes.py). Every /api request is recorded.
"""

from __future__ import annotations

import random
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from tests.emulator import audit, errors
from tests.emulator.corrupt import corrupt_body
from tests.emulator.errors import ApiError, Query
from tests.emulator.faults import (
    BAN_JSON,
    HTML_5XX,
    JSON_5XX,
    FaultPlan,
    ban_html,
    cloudflare_page,
    html_200_page,
)
from tests.emulator.limits import (
    RateLimits,
    retry_after_header,
    retry_after_value,
    route_headers,
)
from tests.emulator.messages import HAS_THREAD, MessageLog, dumps
from tests.emulator.oauth import OAuthStore
from tests.emulator.routes import MESSAGE_CHANNEL_TYPES, Api, ApiRequest, Route, match_route
from tests.emulator.snowflakes import iso_from_ms, make_snowflake, now_ms, snowflake_ms
from tests.emulator.social import Social
from tests.emulator.spec import WorldSpec
from tests.emulator.worldgen import World

#: Emulators serving now, whose secrets the test harness scans every tap run for.
LIVE: weakref.WeakSet[Emulator] = weakref.WeakSet()
API_PREFIXES = ("/api/v10", "/api/v9")
JSON_TYPE = "application/json"
HTML_TYPE = "text/html; charset=UTF-8"
Headers = list[tuple[str, str]]


class RequestRecord(NamedTuple):
    """One request as the emulator saw it.

    `path` is the request target as sent (query included); `route` the route's
    short name ("messages", "members", ...; "unknown" if none matched); `major`
    the channel or guild id it is counted under; `time` the arrival (epoch s).
    `kind`: ok, route_429, global_429, shared_429, ban, fault:<name>, or the
    status for errors ("400", "401", "403", "404", ...).
    """

    method: str
    path: str
    route: str
    major: str | None
    status: int
    time: float
    kind: str


@dataclass
class Settings:
    """Knobs tests may change while the emulator serves (plain attribute writes).

    rate_limits: "off" (headers only, never 429) or "real" (enforce the bucket sizes
    of docs/discord-behaviour.md#observed-bucket-sizes and 50 req/s global). time_scale
    multiplies every window and retry_after.
    """

    rate_limits: str = "off"
    time_scale: float = 1.0
    global_limit: int = 50
    #: route name -> (limit, window seconds), replacing the built-in size
    route_limits: dict[str, tuple[int, float]] = field(default_factory=dict)
    #: route name -> (limit, window seconds) of a per-resource limit everyone shares
    shared_limits: dict[str, tuple[int, float]] = field(default_factory=dict)
    ban: bool = False
    ban_after_invalid: int | None = None
    ban_seconds: float = 3600.0
    ban_style: str = "html"
    faults: dict[str, float] = field(default_factory=dict)
    max_faults: int = 1000
    fault_seed: int = 0
    slow_seconds: float = 2.0
    fault_retry_after: float = 1.0
    #: compatibility: answer the next API requests with these statuses (bare JSON)
    fail_next: list[int] = field(default_factory=list)
    #: route name -> rules breaking some objects of its 200 responses (see corrupt.py):
    #: [{"rate": 0.05, "set": {"flags": "x"}, "drop": ["id"]}, ...]
    corrupt: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: channels that now answer 404 Unknown Channel (deleted mid-run)
    vanished_channels: set[str] = field(default_factory=set)
    #: the next N `GET /guilds/{id}` answer 404 Unknown Guild although the bot is in the
    #: guild and every other route works, see
    #: docs/discord-behaviour.md#unknown-guild-for-a-guild-the-bot-is-in
    unknown_guild_answers: int = 0
    #: guilds the bot was removed from after listing them: still in `/users/@me/guilds`,
    #: 404 Unknown Guild on every guild route
    left_guilds: set[str] = field(default_factory=set)
    #: route names that answer 404 "404: Not Found", as if Discord did not serve them
    hidden_routes: set[str] = field(default_factory=set)
    message_content_intent: bool = True
    members_intent: bool = True
    manage_guild: bool = True
    manage_channels: bool = True
    view_audit_log: bool = True
    manage_threads: bool = True
    ban_members: bool = True
    #: guilds where the bot lacks Ban Members although `ban_members` is on (403 50013)
    no_ban_members_in: set[str] = field(default_factory=set)
    manage_webhooks: bool = True
    oauth_clients: dict[str, str] = field(default_factory=dict)
    access_token_ttl: float = 604800.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def update(self, **changes: Any) -> None:
        """Change several knobs at once; unknown names are an error."""
        names = {f.name for f in fields(self)} - {"lock"}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        with self.lock:
            for name, value in changes.items():
                if name in (
                    "vanished_channels",
                    "hidden_routes",
                    "left_guilds",
                    "no_ban_members_in",
                ):
                    value = set(value)
                setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (for the control endpoint)."""
        out = {}
        for f in fields(self):
            if f.name == "lock":
                continue
            value = getattr(self, f.name)
            out[f.name] = sorted(value) if isinstance(value, set) else value
        return out

    def pop_fail_next(self) -> int | None:
        """The next injected status, if any (thread-safe)."""
        with self.lock:
            return self.fail_next.pop(0) if self.fail_next else None


@dataclass
class Principal:
    """Who is calling: the bot, or an OAuth2 user through a Bearer token."""

    kind: str
    token: str
    grant: Any = None

    @property
    def user(self) -> dict[str, Any]:
        """The authorizing user of a Bearer token."""
        return self.grant.user

    @property
    def scopes(self) -> frozenset[str]:
        """Scopes of a Bearer token (empty for the bot)."""
        return frozenset(self.grant.scopes) if self.grant is not None else frozenset()


@dataclass
class Response:
    """What the HTTP layer writes (or does instead: drop the connection, wait first)."""

    status: int
    body: bytes = b""
    headers: Headers = field(default_factory=list)
    drop: bool = False
    delay: float = 0.0


def json_response(status: int, body: Any, headers: Headers | None = None) -> Response:
    """A normal Discord response: JSON, `Via: 1.1 google`, plus any route headers."""
    payload = body if isinstance(body, bytes) else dumps(body)
    base = [("Content-Type", JSON_TYPE), ("Via", "1.1 google")]
    return Response(status, payload, base + (headers or []))


class Emulator:
    """A Discord API v10 emulator on 127.0.0.1 (free port), serving from daemon threads."""

    def __init__(
        self,
        spec: WorldSpec | None = None,
        *,
        bot_token: str = "test-bot-token",
        port: int = 0,
    ) -> None:
        """Generate the world; `start()` (or `with`) begins serving."""
        self.spec = spec or WorldSpec.small()
        self.bot_token = bot_token
        self.port = port
        self.settings = Settings(
            message_content_intent=self.spec.message_content_intent,
            members_intent=self.spec.members_intent,
            manage_guild=self.spec.manage_guild,
            manage_channels=self.spec.manage_channels,
            view_audit_log=self.spec.view_audit_log,
            manage_threads=self.spec.manage_threads,
        )
        self.world = World(self.spec)
        self.world.application_flags = self._application_flags
        self.api = Api(self)
        self.limits = RateLimits(self.settings)
        self.faults = FaultPlan()
        self.oauth = OAuthStore(self)
        self._records: list[RequestRecord] = []
        self._kinds: Counter[str] = Counter()
        self._routes: Counter[str] = Counter()
        self._record_lock = threading.Lock()
        self._id_counter = 0
        self._audit_rng = random.Random(self.spec.seed)
        self._server: Any = None

    # lifecycle ------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Listen on 127.0.0.1 and serve from a daemon thread."""
        from tests.emulator.httpd import serve

        if self._server is None:
            self._server = serve(self, self.port)
            LIVE.add(self)
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> Emulator:
        """Start serving."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop serving."""
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; use `with Emulator(...)`")
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def api_url(self) -> str:
        """`http://127.0.0.1:<port>/api/v10`: what the tap's `api_url` should be."""
        return self.base_url + API_PREFIXES[0]

    def secrets(self) -> set[str]:
        """Every credential this emulator knows: the bot token, client secrets, and all
        refresh and access tokens it ever issued. None may appear in the tap's output."""
        with self.oauth.lock:
            issued = set(self.oauth.issued)
        webhooks = self.world.guild_rest.secrets()
        return {self.bot_token, *self.settings.oauth_clients.values(), *issued, *webhooks}

    # request log ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every API request so far, in arrival order."""
        with self._record_lock:
            return list(self._records)

    def reset_requests(self) -> None:
        """Forget recorded requests; restart fault numbering and rate-limit windows."""
        with self._record_lock:
            self._records.clear()
            self._kinds.clear()
            self._routes.clear()
        self.faults.reset()
        self.limits.reset()

    def stats(self) -> dict[str, Any]:
        """Request counts: total, by kind and by route."""
        with self._record_lock:
            kinds, routes, total = dict(self._kinds), dict(self._routes), len(self._records)
        return {"requests": total, **kinds, "by_kind": kinds, "by_route": routes}

    def _record(self, record: RequestRecord) -> None:
        with self._record_lock:
            self._records.append(record)
            self._kinds[record.kind] += 1
            self._routes[record.route] += 1

    # ground truth ---------------------------------------------------------------------

    def visible_messages(self, channel_id: str) -> list[dict[str, Any]]:
        """A channel's messages exactly as the bot receives them now, ascending by id.

        Message Content gating applies; [] when the bot cannot view the channel,
        lacks Read Message History, or the channel cannot hold messages.
        """
        channel = self.world.index.get(str(channel_id))
        if channel is None or str(channel_id) in self.settings.vanished_channels:
            return []
        if channel["type"] not in MESSAGE_CHANNEL_TYPES:
            return []
        if not self.api.can_view(channel) or not self.api.has_history(channel):
            return []
        log = self.world.log(channel["id"])
        if log is None:
            return []
        factory = self.world.factory
        gated = not self.settings.message_content_intent
        with factory.lock:
            messages = [factory.message(log, mid) for mid in log.ids]
        return [factory.gate(m) for m in messages] if gated else messages

    def visible_threads(self, guild_id: str) -> list[dict[str, Any]]:
        """Threads of a guild the bot can list now (private ones need Manage Threads
        or membership; archived private ones without Manage Threads only if joined)."""
        return [t for t in self.world.threads.get(str(guild_id), []) if self.api.can_view(t)]

    def _application_flags(self) -> int:
        """GATEWAY_*_LIMITED bits for the intents the settings enable.

        https://discord.com/developers/docs/resources/application#application-object-application-flags
        """
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        if self.settings.members_intent:
            flags |= 1 << 15
        if self.settings.message_content_intent:
            flags |= 1 << 19
        return flags

    # OAuth2 -----------------------------------------------------------------------------

    def issue_refresh_token(
        self,
        client_id: str,
        scopes: str | list[str] = "identify guilds",
        user: dict[str, Any] | str | None = None,
    ) -> str:
        """Seed a user's authorization of `client_id` (in `settings.oauth_clients`) and
        return its single-use refresh token. `user`: a user object or id (default: a
        human member of the first guild)."""
        return self.oauth.issue_refresh_token(client_id, scopes, user)

    def issue_access_token(
        self,
        client_id: str,
        scopes: str | list[str] = "identify guilds",
        user: dict[str, Any] | str | None = None,
    ) -> str:
        """An access token for a seeded authorization (no refresh token)."""
        return self.oauth.issue_access_token(client_id, scopes, user)

    # live changes ---------------------------------------------------------------------

    def add_messages(self, channel_id: str, count: int) -> list[dict[str, Any]]:
        """Post `count` new messages now (ids increase; timestamps = now; no reactions or
        poll yet: `react`, `post_poll`). Thread-safe."""
        log = self._message_log(channel_id)
        factory = self.world.factory
        with factory.lock:
            created = [self._append(log) for _ in range(count)]
            if created:
                self._after_change(log, added=len(created))
            return [factory.message(log, mid) for mid in created]

    def edit_message(self, channel_id: str, message_id: str, content: str) -> dict[str, Any]:
        """Edit a message's content; `edited_timestamp` becomes now."""
        log = self._message_log(channel_id)
        factory = self.world.factory
        mid = int(message_id)
        with factory.lock:
            if mid not in log:
                raise KeyError(f"no message {message_id} in channel {channel_id}")
            msg = factory.message(log, mid, nested=True)
            msg.pop("thread", None)
            msg["flags"] &= ~HAS_THREAD
            msg["content"] = content
            msg["edited_timestamp"] = iso_from_ms(now_ms())
            log.overrides[mid] = msg
            self._after_change(log)
            return factory.message(log, mid)

    def delete_message(self, channel_id: str, message_id: str) -> None:
        """Delete a message (replies to it then carry `referenced_message: null`)."""
        log = self._message_log(channel_id)
        mid = int(message_id)
        with self.world.factory.lock:
            if mid not in log:
                raise KeyError(f"no message {message_id} in channel {channel_id}")
            log.ids.remove(mid)
            log.deleted.add(mid)
            log.overrides.pop(mid, None)
            self._after_change(log, deleted=1)

    # pins, reactions and votes (social.py) ------------------------------------------------

    def pin_message(self, channel_id: str, message_id: str) -> dict[str, Any]:
        """Pin a message now; the channel's `last_pin_timestamp` moves."""
        return self._social_change(channel_id, lambda s, log: s.pin(log, int(message_id)))

    def unpin_message(self, channel_id: str, message_id: str) -> dict[str, Any]:
        """Unpin a message; `last_pin_timestamp` stays where it was."""
        return self._social_change(channel_id, lambda s, log: s.unpin(log, int(message_id)))

    def react(
        self,
        channel_id: str,
        message_id: str,
        emoji: dict[str, Any],
        user_id: str,
        *,
        add: bool = True,
        burst: bool = False,
    ) -> dict[str, Any]:
        """Add (or, with `add=False`, take back) one user's reaction to a message."""
        return self._social_change(
            channel_id,
            lambda s, log: s.change_reaction(
                log, int(message_id), emoji, str(user_id), add=add, burst=burst
            ),
        )

    def vote(
        self, channel_id: str, message_id: str, answer_id: int, user_id: str, *, add: bool = True
    ) -> dict[str, Any]:
        """Cast (or, with `add=False`, take back) one user's vote on a poll answer."""
        return self._social_change(
            channel_id,
            lambda s, log: s.change_vote(
                log, int(message_id), int(answer_id), str(user_id), add=add
            ),
        )

    def post_poll(
        self, channel_id: str, answers: list[str], *, multiselect: bool = False
    ) -> dict[str, Any]:
        """Post a new message holding an open poll with no votes."""
        (posted,) = self.add_messages(channel_id, 1)
        return self._social_change(
            channel_id,
            lambda s, log: s.attach_poll(log, int(posted["id"]), answers, multiselect=multiselect),
        )

    def finalize_poll(self, channel_id: str, message_id: str) -> dict[str, Any]:
        """End a poll now; its results become final."""
        return self._social_change(channel_id, lambda s, log: s.finalize(log, int(message_id)))

    def _social_change(
        self, channel_id: str, change: Callable[[Social, MessageLog], dict[str, Any]]
    ) -> dict[str, Any]:
        """Apply one change under the world's lock; cached pages of the channel go stale."""
        log = self._message_log(channel_id)
        with self.world.factory.lock:
            msg = change(self.world.social, log)
            self._after_change(log)
            return msg

    def add_audit_entries(self, guild_id: str, count: int) -> list[dict[str, Any]]:
        """Log `count` new audit-log entries now (ids above the newest). Thread-safe."""
        gid = str(guild_id)
        with self.world.factory.lock:
            created = audit.new_entries(self.world, self._audit_rng, gid, count, now_ms())
            # Keys after entries: a concurrent reader's slice bounds stay within the list.
            self.api.audit_keys[gid].extend(int(e["id"]) for e in created)
            return created

    def _message_log(self, channel_id: str) -> MessageLog:
        log = self.world.log(str(channel_id))
        if log is None:
            raise ValueError(f"channel {channel_id} does not exist or holds no messages")
        return log

    def _append(self, log: MessageLog) -> int:
        """A new id for now, above the channel's newest, with the channel's worker bits."""
        self._id_counter += 1
        worker, process = log.worker_bits
        last = log.ids[-1] if len(log.ids) else 0
        ms = max(now_ms(), snowflake_ms(last) if last else 0)
        mid = make_snowflake(ms, worker, process, self._id_counter)
        if mid <= last:
            mid = last + 1
        log.ids.append(mid)
        log.total_sent += 1
        return mid

    def _after_change(self, log: MessageLog, added: int = 0, deleted: int = 0) -> None:
        """Keep channel/thread fields in step and invalidate cached pages."""
        channel = log.channel
        if added:
            channel["last_message_id"] = str(log.ids[-1])
        if log.is_thread:
            channel["message_count"] = max(0, channel["message_count"] + added - deleted)
            channel["total_message_sent"] += added
            metadata = channel["thread_metadata"]
            if added and metadata["archived"]:
                metadata.update(archived=False, archive_timestamp=iso_from_ms(now_ms()))
        log.version += 1
        for child in self.world.starter_thread_logs(log):
            child.version += 1
        if log.starter_of is not None:
            parent = self.world.factory.logs.get(log.starter_of[0])
            if parent is not None:
                parent.version += 1

    # dispatch -------------------------------------------------------------------------

    def dispatch(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        arrived: float | None = None,
    ) -> Response:
        """Answer one HTTP request (the HTTP layer calls this from its threads)."""
        arrived = time.time() if arrived is None else arrived
        path, _, query_string = target.partition("?")
        if path.startswith("/_emulator/"):
            from tests.emulator.control import control

            return control(self, method, path, body)
        api_path = _api_path(path)
        if api_path is None:
            return self._finish(
                method, target, None, None, arrived, json_response(404, errors.NOT_FOUND)
            )
        if self.limits.banned():
            return self._finish(method, target, None, None, arrived, self._ban_response(), "ban")
        fault, number = self.faults.decide(self.settings)
        if api_path.startswith("/oauth2/token"):
            response, kind = self.oauth.token_endpoint(
                method, api_path, headers, body, fault, number
            )
            if fault == "slow":
                response.delay, kind = self.slow_delay(), "fault:slow"
            name = "oauth2_revoke" if api_path.rstrip("/").endswith("/revoke") else "oauth2_token"
            return self._finish(method, target, name, None, arrived, response, kind)
        found, params = match_route(api_path)
        route = next((r for r in found if r.method == method), None)
        name = route.name if route else (found[0].name if found else "unknown")
        major = params.get(route.major_param) if route and route.major_param else None
        if fault is not None and fault != "slow":
            response = self._fault_response(fault, number, route, major, method, api_path)
            kind = "shared_429" if fault == "shared_429" else f"fault:{fault}"
            return self._finish(method, target, name, major, arrived, response, kind)
        delay = self.slow_delay() if fault == "slow" else 0.0
        response, kind = self._serve(method, api_path, query_string, headers, found, route, params)
        response.delay = delay
        if fault == "slow":
            kind = "fault:slow"
        return self._finish(method, target, name, major, arrived, response, kind)

    def _serve(
        self,
        method: str,
        api_path: str,
        query_string: str,
        headers: Mapping[str, str],
        found: list[Route],
        route: Route | None,
        params: dict[str, str],
    ) -> tuple[Response, str | None]:
        """Route match, auth, limits and the handler; (response, kind or None)."""
        if not found or (route is not None and route.name in self.settings.hidden_routes):
            return json_response(404, errors.NOT_FOUND), None
        if route is None:
            return json_response(405, errors.METHOD_NOT_ALLOWED), None
        principal = self._authenticate(headers.get("Authorization"), route)
        if principal is None:
            return json_response(401, errors.UNAUTHORIZED), None
        injected = self.settings.pop_fail_next()
        if injected is not None:
            kind = "route_429" if injected == 429 else f"fault:{injected}"
            return json_response(injected, {"message": "injected", "code": 0}), kind
        wait = self.limits.global_limit(principal.token)
        if wait is not None:
            return self._global_429(wait), "global_429"
        major = params.get(route.major_param, "") if route.major_param else ""
        limit_headers: Headers = []
        if route.limit is not None:
            verdict = self.limits.route(
                route.name, major, route.limit, route.window, principal.token
            )
            limit_headers = verdict.headers
            if verdict.retry_after is not None:
                return self._route_429(verdict.retry_after, limit_headers, "user"), "route_429"
        shared_wait = self.limits.shared_limit(route.name, major)
        if shared_wait is not None:
            return self._route_429(shared_wait, limit_headers, "shared"), "shared_429"
        return self._call(route, params, query_string, principal, limit_headers), None

    def _call(
        self,
        route: Route,
        params: dict[str, str],
        query_string: str,
        principal: Principal,
        limit_headers: Headers,
    ) -> Response:
        """Run the route's handler; API errors become their JSON bodies."""
        query = Query(dict(parse_qsl(query_string, keep_blank_values=True)))
        try:
            _check_path_ids(params)
            status, body = self.api.handler(route)(ApiRequest(route, params, query, principal))
        except ApiError as exc:
            status, body = exc.status, exc.body
        rules = self.settings.corrupt.get(route.name) if status == 200 else None
        if rules:
            body = corrupt_body(body, route.name, rules, self.settings.fault_seed)
        return json_response(status, body, limit_headers)

    def _authenticate(self, header: str | None, route: Route) -> Principal | None:
        """The caller, if its token is valid for this route.

        Bearer tokens only on the routes listed in
        docs/discord-behaviour.md#routes-a-bearer-token-may-call
        """
        scheme, _, token = (header or "").partition(" ")
        if scheme == "Bot" and token == self.bot_token:
            principal = Principal("bot", token)
        elif scheme == "Bearer" and token:
            found = self.oauth.principal(token)
            if found is None:
                return None
            principal = found
        else:
            return None
        rule, _, scope = route.auth.partition(":")
        if principal.kind == "bot":
            return principal if rule in ("bot", "user") else None
        if rule == "bot":
            return None
        if scope == "any" or scope in principal.scopes:
            return principal
        return None

    def _finish(
        self,
        method: str,
        target: str,
        route: str | None,
        major: str | None,
        arrived: float,
        response: Response,
        kind: str | None = None,
    ) -> Response:
        """Record the request and count invalid ones toward a ban."""
        status = response.status
        if kind is None:
            kind = "ok" if status < 400 else str(status)
        self._record(
            RequestRecord(method, target, route or "unknown", major, status, arrived, kind)
        )
        if status in (401, 403) or (status == 429 and kind not in ("shared_429", "ban")):
            self.limits.note_invalid()
        return response

    # canned responses -----------------------------------------------------------------

    def _ban_response(self) -> Response:
        """Cloudflare's answer to a banned IP: 429, no Via, no rate-limit headers."""
        if self.settings.ban_style == "json":
            return Response(429, dumps(BAN_JSON), [("Content-Type", JSON_TYPE)])
        headers = [("Content-Type", HTML_TYPE), ("Server", "cloudflare")]
        return Response(429, ban_html(), headers)

    def _global_429(self, wait: float) -> Response:
        """Global limit hit: `global: true`, scope global, no route headers.

        https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit
        """
        value = retry_after_value(wait)
        body = {"message": "You are being rate limited.", "retry_after": value, "global": True}
        headers = [
            ("Retry-After", retry_after_header(value)),
            ("X-RateLimit-Global", "true"),
            ("X-RateLimit-Scope", "global"),
        ]
        return json_response(429, body, headers)

    def _route_429(self, wait: float, limit_headers: Headers, scope: str) -> Response:
        """A route (scope user) or shared (per-resource) 429 with the route headers."""
        value = retry_after_value(wait)
        message = (
            "You are being rate limited."
            if scope == "user"
            else "The resource is being rate limited."
        )
        body = {"message": message, "retry_after": value, "global": False}
        headers = [
            *limit_headers,
            ("Retry-After", retry_after_header(value)),
            ("X-RateLimit-Scope", scope),
        ]
        return json_response(429, body, headers)

    def slow_delay(self) -> float:
        """How long a `slow` fault holds its answer: a little longer than `slow_seconds`,
        so a client whose timeout is `slow_seconds` times out."""
        return self.settings.slow_seconds + 0.05

    def fault_response(
        self, fault: str, number: int, route: Route | None, method: str, api_path: str
    ) -> Response:
        """The response of an injected fault (also used by the OAuth2 token URLs)."""
        return self._fault_response(fault, number, route, None, method, api_path)

    def _fault_response(
        self,
        fault: str,
        number: int,
        route: Route | None,
        major: str | None,
        method: str,
        api_path: str,
    ) -> Response:
        """The response of an injected fault (decided before any processing)."""
        wait = self.settings.fault_retry_after * self.settings.time_scale
        name = route.name if route else "unknown"
        limit = route.limit if route and route.limit else 1
        window = (route.window if route else 1.0) * self.settings.time_scale
        if fault == "drop":
            return Response(0, drop=True)
        if fault == "5xx_json":
            status, message = JSON_5XX[number % len(JSON_5XX)]
            return json_response(status, {"message": message, "code": 0})
        if fault == "5xx_html":
            status, title = HTML_5XX[number % len(HTML_5XX)]
            return Response(status, cloudflare_page(status, title), [("Content-Type", HTML_TYPE)])
        if fault == "html_200":
            return Response(200, html_200_page(), [("Content-Type", HTML_TYPE)])
        if fault == "truncated_json":
            return self._truncated(route, method, api_path)
        if fault == "global_429":
            return self._global_429(wait)
        if fault == "shared_429":
            headers = route_headers(limit, max(1, limit - 1), window, name)
            return self._route_429(wait, headers, "shared")
        return self._route_429(wait, route_headers(limit, 0, wait, name), "user")

    def _truncated(self, route: Route | None, method: str, api_path: str) -> Response:
        """200 with a body cut in half (valid framing, invalid JSON)."""
        full = b'{"message": "404: Not Found", "code": 0}'
        if route is not None and method == "GET":
            _, params = match_route(api_path)
            principal = Principal("bot", self.bot_token)
            response = self._call(route, params, "", principal, [])
            full = response.body
        cut = full[: max(1, len(full) // 2)]
        return Response(200, cut, [("Content-Type", JSON_TYPE), ("Via", "1.1 google")])


def _api_path(path: str) -> str | None:
    """The path below /api/v10 (or /api/v9, or /api for the OAuth2 token URLs)."""
    for prefix in API_PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix) :] or "/"
    if path.startswith("/api/oauth2/token"):
        return path[len("/api") :]
    return None


def _check_path_ids(params: dict[str, str]) -> None:
    """Ids in the path must be snowflakes (400 / 50035 otherwise)."""
    problems = {}
    for name, value in params.items():
        if name.endswith("_id") and value != "@me" and not value.isdigit():
            problems[name] = errors.leaf("NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')
    if problems:
        raise errors.invalid_form(problems)
