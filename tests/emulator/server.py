"""The emulator's HTTP server: Discord API v10 routes over loopback.

Reproduces what the tap depends on (see ../shared/discord-api.md §11): newest-first
message pages even with `after`, member pages (default limit 1), archived-thread
paging by ISO `before`, rate-limit headers with a bucket per route and major
parameter, 401/403/404 bodies, 200 `[]` without Read Message History, and Message
Content gating.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.emulator.world import World, WorldSpec

API_PREFIX = "/api/v10"

#: (route regex, bucket limit, window seconds); None limit = no rate-limit headers.
ROUTES: list[tuple[str, str, int | None, float]] = [
    ("users_me", r"^/users/@me$", 50, 1.0),
    ("user_guilds", r"^/users/@me/guilds$", 1, 1.0),
    ("application", r"^/applications/@me$", 50, 1.0),
    ("guild", r"^/guilds/(\d+)$", 50, 1.0),
    ("guild_channels", r"^/guilds/(\d+)/channels$", 50, 1.0),
    ("active_threads", r"^/guilds/(\d+)/threads/active$", None, 1.0),
    ("members", r"^/guilds/(\d+)/members$", 10, 10.0),
    ("invites", r"^/guilds/(\d+)/invites$", 50, 1.0),
    ("roles", r"^/guilds/(\d+)/roles$", 50, 1.0),
    ("messages", r"^/channels/(\d+)/messages$", 5, 5.0),
    ("archived", r"^/channels/(\d+)/threads/archived/(public|private)$", None, 1.0),
]


@dataclass
class RequestRecord:
    """One request as the emulator saw it."""

    method: str
    path: str
    route: str
    major: str | None
    status: int
    time: float
    kind: str


@dataclass
class Settings:
    """Knobs tests may change while the emulator serves."""

    rate_limits: str = "off"  # "off": headers only, never 429; "real": enforce the limits
    time_scale: float = 1.0
    fail_next: list[int] = field(default_factory=list)  # statuses to answer next, in order
    message_content_intent: bool = True
    members_intent: bool = True
    manage_guild: bool = True
    manage_threads: bool = True
    #: Channels still listed but answering 404 10003, as if deleted mid-run.
    vanished_channels: set[str] = field(default_factory=set)


class Emulator:
    """A Discord API emulator on 127.0.0.1 (free port), serving from daemon threads."""

    def __init__(
        self, spec: WorldSpec | None = None, *, bot_token: str = "test-bot-token", port: int = 0
    ) -> None:
        self.port = port
        self.spec = spec or WorldSpec.small()
        self.world = World(self.spec)
        self.bot_token = bot_token
        self.settings = Settings(
            message_content_intent=self.spec.message_content_intent,
            members_intent=self.spec.members_intent,
            manage_guild=self.spec.manage_guild,
            manage_threads=self.spec.manage_threads,
        )
        self._requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str | None], list[float]] = {}
        self._server: ThreadingHTTPServer | None = None

    # lifecycle ------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Listen on a free loopback port."""
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.base_url + API_PREFIX

    # ground truth ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def add_messages(self, channel_id: str, count: int) -> list[dict[str, Any]]:
        return self.world.add_messages(channel_id, count)

    def visible_messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Messages as the bot reads them now, oldest first ([] when it cannot)."""
        if channel_id in self.world.unreadable or channel_id in self.world.no_history:
            return []
        channel = self.world.find_channel(channel_id)
        if channel is None or channel["type"] in (4, 15, 16):
            return []
        with self.world.lock:
            return [self._gate(m) for m in self.world.messages.get(channel_id, [])]

    def _gate(self, message: dict[str, Any]) -> dict[str, Any]:
        """Message Content gating (§6.1): empty content unless by or mentioning the bot."""
        if self.settings.message_content_intent:
            return message
        bot_id = self.world.bot_user["id"]
        if message["author"]["id"] == bot_id or any(u["id"] == bot_id for u in message["mentions"]):
            return message
        gated = dict(message, content="", embeds=[], attachments=[], components=[])
        gated.pop("poll", None)
        return gated

    # request handling -----------------------------------------------------------------

    def handle(self, method: str, raw_path: str, auth: str | None) -> tuple[int, dict, Any]:
        """Answer one request: (status, headers, JSON body)."""
        parts = urlsplit(raw_path)
        path = parts.path.removeprefix(API_PREFIX)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        found = _match_route(path)
        if found is None:
            body = {"message": "404: Not Found", "code": 0}
            return self._log(method, path, "unknown", None, 404, {}, body)
        name, match, limit, window = found
        major = match.group(1) if match.groups() else None
        if auth != f"Bot {self.bot_token}":
            return self._log(
                method, path, name, major, 401, {}, {"message": "401: Unauthorized", "code": 0}
            )
        if self.settings.fail_next:
            status = self.settings.fail_next.pop(0)
            return self._log(
                method, path, name, major, status, {}, {"message": "injected", "code": 0}
            )
        headers = self._rate_headers(name, major, limit, window)
        if headers.get("_429"):
            retry = float(headers.pop("_429"))
            body = {"message": "You are being rate limited.", "retry_after": retry, "global": False}
            headers.update({"Retry-After": str(math.ceil(retry)), "X-RateLimit-Scope": "user"})
            return self._log(method, path, name, major, 429, headers, body)
        status, body = getattr(self, f"_route_{name}")(match, query)
        return self._log(method, path, name, major, status, headers, body)

    def control(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        """Control endpoints for the demo: add messages, read request counts."""
        if method == "POST" and path == "/_emulator/messages":
            count = int(body.get("count", 1))
            channel = body.get("channel_id")
            targets = (
                [channel]
                if channel
                else [cid for cid in self.world.messages if self.visible_messages(cid)]
            )
            created = [
                m["id"]
                for i in range(count)
                for m in self.add_messages(targets[i % len(targets)], 1)
            ]
            return 200, {}, {"created": created}
        if method == "GET" and path == "/_emulator/stats":
            records = self.requests
            kinds: dict[str, int] = {}
            for record in records:
                kinds[record.kind] = kinds.get(record.kind, 0) + 1
            return 200, {}, {"requests": len(records), "by_kind": kinds}
        return 404, {}, {"message": "unknown control endpoint"}

    def _log(self, method, path, route, major, status, headers, body):
        kind = "ok" if status < 400 else ("route_429" if status == 429 else str(status))
        with self._lock:
            self._requests.append(
                RequestRecord(method, path, route, major, status, time.time(), kind)
            )
        return status, headers, body

    def _rate_headers(
        self, route: str, major: str | None, limit: int | None, window: float
    ) -> dict:
        if limit is None:
            return {}
        window *= self.settings.time_scale
        now = time.monotonic()
        key = (route, major)
        with self._lock:
            hits = [t for t in self._windows.get(key, []) if t > now - window]
            if self.settings.rate_limits == "real" and len(hits) >= limit:
                retry = round(hits[0] + window - now, 3)
                return {**self._bucket_headers(route, limit, 0, retry), "_429": retry}
            hits.append(now)
            self._windows[key] = hits
        shown = limit if self.settings.rate_limits == "real" else max(limit, 1000)
        remaining = max(shown - len(hits), 0)
        return self._bucket_headers(route, shown, remaining, round(hits[0] + window - now, 3))

    @staticmethod
    def _bucket_headers(route: str, limit: int, remaining: int, reset_after: float) -> dict:
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.md5(route.encode()).hexdigest(),
        }

    # routes ---------------------------------------------------------------------------

    def _guild_or_404(self, guild_id: str):
        for guild in self.world.guilds:
            if guild["id"] == guild_id:
                return guild
        return None

    def _route_users_me(self, match, query):
        return 200, self.world.bot_user

    def _route_application(self, match, query):
        flags = (1 << 14 if self.settings.members_intent else 0) | (
            1 << 18 if self.settings.message_content_intent else 0
        )
        return 200, dict(self.world.application, flags=flags)

    def _route_user_guilds(self, match, query):
        limit = int(query.get("limit", 200))
        if not 1 <= limit <= 200:
            return _bad("limit")
        after = int(query.get("after", 0))
        rows = sorted(self.world.guilds, key=lambda g: int(g["id"]))
        rows = [g for g in rows if int(g["id"]) > after][:limit]
        return 200, [
            {k: g[k] for k in ("id", "name", "icon", "banner", "features")}
            | {"owner": False, "permissions": "2147483647"}
            for g in rows
        ]

    def _route_guild(self, match, query):
        guild = self._guild_or_404(match.group(1))
        if guild is None:
            return 404, {"message": "Unknown Guild", "code": 10004}
        body = dict(guild)
        if query.get("with_counts") not in ("true", "True", "1"):
            body.pop("approximate_member_count")
            body.pop("approximate_presence_count")
        return 200, body

    def _route_guild_channels(self, match, query):
        if self._guild_or_404(match.group(1)) is None:
            return 404, {"message": "Unknown Guild", "code": 10004}
        return 200, self.world.channels[match.group(1)]

    def _route_roles(self, match, query):
        if self._guild_or_404(match.group(1)) is None:
            return 404, {"message": "Unknown Guild", "code": 10004}
        return 200, self.world.roles[match.group(1)]

    def _route_invites(self, match, query):
        if not self.settings.manage_guild:
            return 403, {"message": "Missing Permissions", "code": 50013}
        return 200, self.world.invites[match.group(1)]

    def _route_members(self, match, query):
        if not self.settings.members_intent:
            return 403, {"message": "Missing Access", "code": 50001}
        limit = int(query.get("limit", 1))
        if not 1 <= limit <= 1000:
            return _bad("limit")
        after = int(query.get("after", 0))
        members = self.world.members[match.group(1)]
        keys = [int(m["user"]["id"]) for m in members]
        start = bisect.bisect_right(keys, after)
        return 200, members[start : start + limit]

    def _route_active_threads(self, match, query):
        threads = [
            t for t in self.world.threads[match.group(1)] if not t["thread_metadata"]["archived"]
        ]
        threads.sort(key=lambda t: int(t["id"]), reverse=True)
        return 200, {"threads": threads, "members": [], "has_more": False}

    def _route_archived(self, match, query):
        channel_id, scope = match.group(1), match.group(2)
        channel = self.world.find_channel(channel_id)
        if channel is None:
            return 404, {"message": "Unknown Channel", "code": 10003}
        if channel_id in self.world.unreadable:
            return 403, {"message": "Missing Access", "code": 50001}
        if scope == "private" and not self.settings.manage_threads:
            return 403, {"message": "Missing Permissions", "code": 50013}
        kinds = {12} if scope == "private" else {10, 11}
        limit = int(query.get("limit", 50))
        if not 2 <= limit <= 100:
            return _bad("limit")
        before = query.get("before")
        threads = [
            t
            for t in self.world.threads[channel["guild_id"]]
            if t["parent_id"] == channel_id
            and t["type"] in kinds
            and t["thread_metadata"]["archived"]
            and (before is None or t["thread_metadata"]["archive_timestamp"] < before)
        ]
        threads.sort(key=lambda t: t["thread_metadata"]["archive_timestamp"], reverse=True)
        return 200, {"threads": threads[:limit], "members": [], "has_more": len(threads) > limit}

    def _route_messages(self, match, query):
        channel_id = match.group(1)
        channel = self.world.find_channel(channel_id)
        if channel is None or channel_id in self.settings.vanished_channels:
            return 404, {"message": "Unknown Channel", "code": 10003}
        if channel_id in self.world.unreadable:
            return 403, {"message": "Missing Access", "code": 50001}
        cursors = [k for k in ("before", "after", "around") if k in query]
        if len(cursors) > 1:
            return _bad("before")
        limit = int(query.get("limit", 50))
        if not 1 <= limit <= 100:
            return _bad("limit")
        messages = self.visible_messages(channel_id)
        keys = [int(m["id"]) for m in messages]
        if "after" in query:
            start = bisect.bisect_right(keys, int(query["after"]))
            page = messages[start : start + limit]
        elif "before" in query:
            end = bisect.bisect_left(keys, int(query["before"]))
            page = messages[max(0, end - limit) : end]
        else:
            page = messages[-limit:]
        return 200, list(reversed(page))


def _match_route(path: str) -> tuple[str, re.Match[str], int | None, float] | None:
    """The route a path belongs to, with its bucket size."""
    for name, pattern, limit, window in ROUTES:
        match = re.match(pattern, path)
        if match:
            return name, match, limit, window
    return None


def _bad(name: str) -> tuple[int, dict]:
    return 400, {
        "code": 50035,
        "message": "Invalid Form Body",
        "errors": {
            name: {
                "_errors": [{"code": "NUMBER_TYPE_MAX", "message": "int value is out of range."}]
            }
        },
    }


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status, headers, body = self.emulator.handle(
            "GET", self.path, self.headers.get("Authorization")
        )
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Via", "1.1 google")
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `Emulator.requests` instead."""
