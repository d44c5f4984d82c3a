"""Unit tests for tap_discord.ratelimit, on fake or virtual time (no real waiting)."""

from __future__ import annotations

import http.server
import itertools
import json
import logging
import random
import re
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

import pytest
import requests

from tap_discord.errors import ConfigError, RateLimitBanError
from tap_discord.ratelimit import RateLimitedAdapter, RateLimiter, RateLimitStats
from tap_discord.ratelimit.routes import parse_route

API = "https://discord.com/api/v10"
HTML_BAN = b"<!DOCTYPE html><html><title>Access denied | discord.com</title>error code: 1015</html>"
T = TypeVar("T")
JSON_BAN = json.dumps(
    {
        "code": 0,
        "message": "You are being blocked from accessing our API temporarily due to "
        "exceeding our rate limits frequently.",
    }
).encode()


# Time helpers -------------------------------------------------------------------------


class FakeClock:
    """Single-threaded fake time: sleep() advances the clock instantly."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


class VirtualTime:
    """Discrete-event time for threads: it advances only when every worker sleeps.

    Each sleeping worker wakes exactly at its own wake time, so the order and timing
    of requests are what real threads would produce with zero latency.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._cv = threading.Condition()
        self._active = 0
        self._sleepers: list[list[float | bool]] = []

    def clock(self) -> float:
        with self._cv:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._cv:
            entry: list[float | bool] = [self.now + max(0.0, seconds), False]
            self._sleepers.append(entry)
            self._active -= 1
            self._advance()
            while not entry[1]:
                self._cv.wait(timeout=5)

    def _advance(self) -> None:
        while self._active == 0 and self._sleepers:
            self.now = max(self.now, min(float(e[0]) for e in self._sleepers))
            for entry in [e for e in self._sleepers if float(e[0]) <= self.now]:
                entry[1] = True
                self._sleepers.remove(entry)
                self._active += 1
            self._cv.notify_all()

    def run(self, workers: list[Callable[[], None]], timeout: float = 30.0) -> None:
        """Run the workers in threads on virtual time; re-raise the first failure."""
        errors: list[BaseException] = []

        def wrap(fn: Callable[[], None]) -> None:
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)
            finally:
                with self._cv:
                    self._active -= 1
                    self._advance()

        with self._cv:
            self._active += len(workers)
        threads = [threading.Thread(target=wrap, args=(fn,), daemon=True) for fn in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout)
            assert not thread.is_alive(), "worker thread hung"
        if errors:
            raise errors[0]


# A fake Discord ------------------------------------------------------------------------


@dataclass
class Rule:
    """A bucket rule: path regex (group 1 = major id, if any), hash, limit, window."""

    pattern: str
    bucket: str | None
    limit: int = 5
    window: float = 5.0


@dataclass
class FakeDiscord:
    """Fixed-window buckets per (hash, major id) plus a sliding 1-second global limit."""

    clock: Callable[[], float]
    rules: list[Rule]
    global_rate: int = 50
    log: list[tuple[float, str, int, bool]] = field(default_factory=list)
    _windows: dict[str, tuple[float, int]] = field(default_factory=dict)
    _recent: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, url: str) -> tuple[int, dict[str, str], bytes | None]:
        with self._lock:
            now = self.clock()
            path = url.split("?", 1)[0]
            while self._recent and now - self._recent[0] >= 1.0 - 1e-9:
                self._recent.popleft()
            if len(self._recent) >= self.global_rate:
                self.log.append((now, path, 429, True))
                body = {
                    "message": "You are being rate limited.",
                    "retry_after": 0.5,
                    "global": True,
                }
                headers = {"Retry-After": "1", "X-RateLimit-Global": "true"}
                headers["X-RateLimit-Scope"] = "global"
                return 429, headers, json.dumps(body).encode()
            self._recent.append(now)
            status, headers, body_bytes = self._route(path, now)
            self.log.append((now, path, status, False))
            return status, headers, body_bytes

    def _route(self, path: str, now: float) -> tuple[int, dict[str, str], bytes | None]:
        for rule in self.rules:
            match = re.search(rule.pattern, path)
            if match is None:
                continue
            if rule.bucket is None:
                return 200, {}, b"[]"
            key = f"{rule.bucket}:{match.group(1) if match.groups() else ''}"
            start, count = self._windows.get(key, (now, 0))
            if now >= start + rule.window:
                start, count = now, 0
            reset_after = start + rule.window - now
            headers = {
                "X-RateLimit-Bucket": rule.bucket,
                "X-RateLimit-Limit": str(rule.limit),
                "X-RateLimit-Reset-After": f"{reset_after:.6f}",
            }
            if count >= rule.limit:
                headers |= {"X-RateLimit-Remaining": "0", "X-RateLimit-Scope": "user"}
                body = {"message": "You are being rate limited.", "retry_after": reset_after}
                body["global"] = False
                return 429, headers, json.dumps(body).encode()
            self._windows[key] = (start, count + 1)
            headers["X-RateLimit-Remaining"] = str(rule.limit - count - 1)
            return 200, headers, b"[]"
        return 404, {}, b'{"message": "404: Not Found", "code": 0}'

    def statuses(self) -> list[int]:
        return [entry[2] for entry in self.log]


def call(limiter: RateLimiter, server: FakeDiscord, url: str, method: str = "GET") -> int:
    """One request through the limiter to the fake server."""
    reserved = limiter.acquire(method, url)
    status, headers, body = server.handle(method, url)
    limiter.record_response(reserved, status, headers, body)
    return status


def pager(limiter: RateLimiter, server: FakeDiscord, url: str, pages: int) -> Callable[[], None]:
    """A worker that reads `pages` pages of one route, one after another."""

    def run() -> None:
        for _ in range(pages):
            call(limiter, server, url)

    return run


def headers(
    bucket: str = "abc",
    limit: int = 5,
    remaining: int = 4,
    reset_after: float = 5.0,
    **extra: str,
) -> dict[str, str]:
    out = {
        "X-RateLimit-Bucket": bucket,
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset-After": str(reset_after),
    }
    out.update({k.replace("_", "-"): v for k, v in extra.items()})
    return out


def limited_json(retry_after: float, *, is_global: bool = False) -> bytes:
    body = {"message": "You are being rate limited.", "retry_after": retry_after}
    body["global"] = is_global
    return json.dumps(body).encode()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_limiter(clock: FakeClock) -> Callable[..., RateLimiter]:
    def make(**kwargs: object) -> RateLimiter:
        kwargs.setdefault("max_requests_per_second", float("inf"))  # no global spacing
        return RateLimiter(clock=clock, sleep=clock.sleep, wall_clock=clock, **kwargs)  # type: ignore[arg-type]

    return make


def near(expected: object, abs: float = 0.01) -> object:
    """Equal up to the limiter's millisecond safety margins."""
    return pytest.approx(expected, abs=abs)


def waited(clock: FakeClock, fn: Callable[[], object]) -> float:
    return timed(clock, fn)[0]


def timed(clock: FakeClock, fn: Callable[[], T]) -> tuple[float, T]:
    """How long `fn` took on the fake clock, and what it returned."""
    before = clock.now
    result = fn()
    return round(clock.now - before, 2), result


MSG1 = f"{API}/channels/1/messages?limit=100"
MSG2 = f"{API}/channels/2/messages?limit=100"
GUILD_MEMBERS = f"{API}/guilds/9/members?limit=1000"


# Route parsing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "template", "major"),
    [
        (
            "http://127.0.0.1:1234/api/v10/channels/123/messages?after=5",
            "GET /channels/{channel_id}/messages",
            "channel_id=123",
        ),
        (f"{API}/channels/123", "GET /channels/{channel_id}", "channel_id=123"),
        (
            "http://localhost:8080/some/prefix/guilds/42/members?limit=1000&after=7",
            "GET /guilds/{guild_id}/members",
            "guild_id=42",
        ),
        (
            f"{API}/channels/5/messages/77",
            "GET /channels/{channel_id}/messages/{message_id}",
            "channel_id=5",
        ),
        (
            f"{API}/channels/5/threads/archived/public?before=2024-01-01T00:00:00",
            "GET /channels/{channel_id}/threads/archived/public",
            "channel_id=5",
        ),
        (
            f"{API}/guilds/42/scheduled-events?with_user_count=true",
            "GET /guilds/{guild_id}/scheduled-events",
            "guild_id=42",
        ),
        (f"{API}/users/@me/guilds?after=3", "GET /users/@me/guilds", ""),
        (f"{API}/users/@me/guilds/42/member", "GET /users/@me/guilds/{guild_id}/member", ""),
        (f"{API}/users/@me", "GET /users/@me", ""),
        ("https://discord.com/api/oauth2/token", "GET /oauth2/token", ""),
        (f"{API}/oauth2/applications/@me", "GET /oauth2/applications/@me", ""),
        (f"{API}/invites/abcDEF?with_counts=true", "GET /invites/{invite_code}", ""),
        ("https://discord.com/api/v10", "GET /", ""),
    ],
)
def test_parse_route(url: str, template: str, major: str) -> None:
    route = parse_route("get", url)
    assert route.template == template
    assert route.major == major
    assert route.method == "GET"


def test_parse_route_distinguishes_method_and_major() -> None:
    a = parse_route("GET", f"{API}/channels/1/messages")
    b = parse_route("POST", f"{API}/channels/1/messages")
    c = parse_route("GET", f"{API}/channels/2/messages")
    assert len({a.key, b.key, c.key}) == 3
    assert parse_route("POST", "http://e/api/v10/oauth2/token").template == "POST /oauth2/token"


def test_parse_route_webhook_token_is_major_but_never_in_label() -> None:
    route = parse_route("POST", f"{API}/webhooks/11/s3cr3t-t0ken/messages/5?wait=true")
    assert route.template == "POST /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
    assert route.major == "webhook_id=11/webhook_token=s3cr3t-t0ken"
    assert "s3cr3t" not in route.label
    assert "webhook_id=11" in route.label


# Settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"max_requests_per_second": 0}, "max_requests_per_second"),
        ({"invalid_request_limit": 0}, "invalid_request_limit"),
        ({"max_header_wait": 0}, "max_header_wait"),
        ({"ban_backoff_seconds": -1}, "ban_backoff_seconds"),
    ],
)
def test_bad_settings_name_the_setting(kwargs: dict[str, float], setting: str) -> None:
    with pytest.raises(ConfigError, match=setting):
        RateLimiter(**kwargs)  # type: ignore[arg-type]


# Buckets --------------------------------------------------------------------------------


def test_waits_until_reset_when_remaining_hits_zero(clock, make_limiter) -> None:
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    clock.advance(0.3)  # the response arrives 0.3 s later; Reset-After counts from then
    limiter.record_response(reserved, 200, headers(remaining=0, reset_after=2.0), b"[]")
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == near(2.0)
    assert limiter.stats.waits == 1
    assert limiter.stats.longest_wait == near(2.0)


def test_no_wait_while_remaining_is_left(clock, make_limiter) -> None:
    limiter = make_limiter()
    for remaining in (4, 3, 2, 1):
        seconds, reserved = timed(clock, lambda: limiter.acquire("GET", MSG1))
        assert seconds == 0
        limiter.record_response(reserved, 200, headers(remaining=remaining), b"[]")
    assert limiter.stats.waits == 0
    assert limiter.stats.requests == 4


def test_bucket_is_per_major_parameter(clock, make_limiter) -> None:
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 200, headers(remaining=0, reset_after=4.0), b"[]")
    # Same bucket hash, other channel: counted independently, no wait.
    seconds, reserved = timed(clock, lambda: limiter.acquire("GET", MSG2))
    assert seconds == 0
    limiter.record_response(reserved, 200, headers(remaining=4), b"[]")
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == near(4.0)


def test_routes_sharing_a_bucket_hash_share_the_limit(clock, make_limiter) -> None:
    limiter = make_limiter()
    one = f"{API}/channels/1/messages/10"
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 200, headers(bucket="shared", remaining=3), b"[]")
    reserved = limiter.acquire("GET", one)
    limiter.record_response(
        reserved, 200, headers(bucket="shared", remaining=0, reset_after=3), b"{}"
    )
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == near(3.0)


def test_new_major_inherits_the_learned_limit(clock, make_limiter) -> None:
    """A channel never seen before starts with the bucket's known limit as Remaining."""
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 200, headers(limit=2, remaining=1), b"[]")
    server = FakeDiscord(clock, [Rule(r"/channels/(\d+)/messages", "abc", limit=2, window=5)])
    for _ in range(6):
        assert call(limiter, server, MSG2) == 200
    assert clock.now - 1000.0 == near(10.0)  # 2 per 5 s window: 3 windows


def test_remaining_resets_after_reset_time_without_a_response(clock, make_limiter) -> None:
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 200, headers(remaining=0, reset_after=1.5), b"[]")
    clock.advance(2.0)
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == 0


def test_reset_after_is_capped_at_max_header_wait(clock, make_limiter) -> None:
    limiter = make_limiter(max_header_wait=7.0)
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 200, headers(remaining=0, reset_after=102737.0), b"[]")
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == near(7.0)


def test_default_max_header_wait_is_60_seconds(clock, make_limiter) -> None:
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 200, headers(remaining=0, reset_after=5000.0), b"[]")
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == near(60.0)


def test_absolute_reset_used_when_reset_after_is_missing(clock, make_limiter) -> None:
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    hdrs = headers(remaining=0)
    del hdrs["X-RateLimit-Reset-After"]
    hdrs["X-RateLimit-Reset"] = f"{clock.now + 2.5:.3f}"  # wall clock == fake clock here
    limiter.record_response(reserved, 200, hdrs, b"[]")
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == near(2.5)


def test_header_names_are_case_insensitive_and_garbage_is_ignored(clock, make_limiter) -> None:
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    hdrs = {
        "x-ratelimit-bucket": "abc",
        "x-ratelimit-limit": "five",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset-after": "1.25",
    }
    limiter.record_response(reserved, 200, hdrs, b"[]")
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == near(1.25)


def test_routes_without_rate_limit_headers_only_meet_the_global_limit(clock) -> None:
    limiter = RateLimiter(max_requests_per_second=10, clock=clock, sleep=clock.sleep)
    url = f"{API}/guilds/9/threads/active"
    for _ in range(21):
        reserved = limiter.acquire("GET", url)
        limiter.record_response(reserved, 200, {}, b"{}")
    assert clock.now - 1000.0 == near(2.0)


def test_sequential_paging_meets_bucket_limits_without_429(clock, make_limiter) -> None:
    """20 pages of one channel at 5 per 5 s: 3 resets, zero 429s."""
    limiter = make_limiter()
    server = FakeDiscord(clock, [Rule(r"/channels/(\d+)/messages", "msgs", limit=5, window=5)])
    for _ in range(20):
        assert call(limiter, server, MSG1) == 200
    assert clock.now - 1000.0 == near(15.0)
    assert limiter.stats.route_429 == 0


# Concurrency ------------------------------------------------------------------------------


def test_reservations_stop_threads_overspending_a_bucket() -> None:
    """8 threads share one bucket of 3 per 2 s: never more than 3 per window, no 429."""
    vt = VirtualTime()
    limiter = RateLimiter(clock=vt.clock, sleep=vt.sleep, max_requests_per_second=1000)
    server = FakeDiscord(vt.clock, [Rule(r"/users/@me/guilds", "g", limit=3, window=2.0)])
    url = f"{API}/users/@me/guilds"

    def worker() -> None:
        for _ in range(6):
            assert call(limiter, server, url) == 200

    vt.run([worker] * 8)
    assert server.statuses() == [200] * 48
    assert limiter.stats.route_429 == 0
    # 48 requests at 3 per 2 s need 16 windows: the last starts at 30 s.
    assert vt.now - 1000.0 == near(30.0, abs=0.2)


def test_first_request_of_an_unknown_bucket_goes_alone() -> None:
    """Before any response nothing is known: one request probes, the rest wait for it."""
    vt = VirtualTime()
    limiter = RateLimiter(clock=vt.clock, sleep=vt.sleep, max_requests_per_second=1000)
    server = FakeDiscord(vt.clock, [Rule(r"/users/@me/guilds", "g", limit=1, window=1.0)])
    url = f"{API}/users/@me/guilds"
    vt.run([lambda: call(limiter, server, url)] * 4)
    assert server.statuses() == [200] * 4


def test_threads_on_many_channels_respect_global_limit() -> None:
    vt = VirtualTime()
    limiter = RateLimiter(clock=vt.clock, sleep=vt.sleep)  # default 50/s
    server = FakeDiscord(
        vt.clock, [Rule(r"/channels/(\d+)/messages", "msgs", limit=1000, window=1.0)]
    )

    vt.run([pager(limiter, server, f"{API}/channels/{c}/messages", 30) for c in range(8)])
    assert server.statuses() == [200] * 240
    times = sorted(entry[0] for entry in server.log)
    assert all(later - earlier >= 0.02 - 1e-9 for earlier, later in itertools.pairwise(times))
    assert times[-1] - times[0] == near(239 / 50)


def slow_pager(
    limiter: RateLimiter, server: FakeDiscord, vt: VirtualTime, url: str, seed: int
) -> Callable[[], None]:
    """A worker whose requests reach the server at a random point of a 0-80 ms trip."""
    rng = random.Random(seed)

    def run() -> None:
        for _ in range(30):
            reserved = limiter.acquire("GET", url)
            trip = rng.uniform(0.0, 0.08)
            there = rng.uniform(0.0, trip)
            vt.sleep(there)
            status, headers, body = server.handle("GET", url)
            vt.sleep(trip - there)
            limiter.record_response(reserved, status, headers, body)

    return run


def test_arrival_jitter_never_trips_a_sliding_global_window() -> None:
    """Requests spaced at exactly 1/rate may still arrive 51 to a second; counting each
    request from its send until a second after its response keeps every window at 50."""
    vt = VirtualTime()
    limiter = RateLimiter(clock=vt.clock, sleep=vt.sleep)  # default 50/s
    server = FakeDiscord(
        vt.clock, [Rule(r"/channels/(\d+)/messages", "msgs", limit=1000, window=1.0)]
    )
    urls = [f"{API}/channels/{c}/messages" for c in range(16)]
    vt.run([slow_pager(limiter, server, vt, url, seed) for seed, url in enumerate(urls)])
    assert server.statuses() == [200] * 480
    times = sorted(entry[0] for entry in server.log)
    assert times[-1] - times[0] < 480 / 50 * 1.10  # the guard costs at most a trip per second


def test_threads_on_many_channels_with_small_buckets() -> None:
    """The tap's real shape: 8 channels in parallel, 5 per 5 s each, no 429 at all."""
    vt = VirtualTime()
    limiter = RateLimiter(clock=vt.clock, sleep=vt.sleep)
    server = FakeDiscord(vt.clock, [Rule(r"/channels/(\d+)/messages", "msgs", limit=5, window=5)])

    vt.run([pager(limiter, server, f"{API}/channels/{c}/messages", 12) for c in range(8)])
    assert set(server.statuses()) == {200}
    assert vt.now - 1000.0 == near(10.0 + 15 / 50, abs=0.05)  # + the global spacing


def test_global_429_stops_every_thread_for_retry_after() -> None:
    """The server's global limit is lower than configured: each global 429 silences all."""
    vt = VirtualTime()
    limiter = RateLimiter(clock=vt.clock, sleep=vt.sleep, max_requests_per_second=50)
    rule = Rule(r"/channels/(\d+)/messages", "msgs", limit=1000, window=1.0)
    server = FakeDiscord(vt.clock, [rule], global_rate=10)
    vt.run([pager(limiter, server, f"{API}/channels/{c}/messages", 10) for c in range(6)])
    global_429s = [t for t, _, status, is_global in server.log if is_global]
    assert global_429s
    for t in global_429s:  # retry_after is 0.5 s in the fake
        assert not [e for e in server.log if t < e[0] < t + 0.5]
    assert limiter.stats.global_429 == len(global_429s)
    assert limiter.stats.route_429 == 0


# 429s ----------------------------------------------------------------------------------


def test_global_429_pauses_every_route(clock, make_limiter) -> None:
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    global_headers = {
        "Retry-After": "4",
        "X-RateLimit-Global": "true",
        "X-RateLimit-Scope": "global",
    }
    limiter.record_response(reserved, 429, global_headers, limited_json(3.5, is_global=True))
    assert waited(clock, lambda: limiter.acquire("GET", GUILD_MEMBERS)) == near(3.5)
    stats = limiter.stats
    assert (stats.global_429, stats.route_429, stats.invalid_requests) == (1, 0, 1)


def test_global_flag_in_body_alone_is_global(clock, make_limiter) -> None:
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    hdrs = {"Retry-After": "2", "X-RateLimit-Scope": "user"} | headers(remaining=3)
    limiter.record_response(reserved, 429, hdrs, limited_json(1.5, is_global=True))
    assert waited(clock, lambda: limiter.acquire("GET", MSG2)) == near(1.5)


def test_route_429_pauses_only_its_bucket(clock, make_limiter) -> None:
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    hdrs = headers(remaining=0, reset_after=2.5, Retry_After="3", X_RateLimit_Scope="user")
    limiter.record_response(reserved, 429, hdrs, limited_json(2.5))
    seconds, reserved = timed(clock, lambda: limiter.acquire("GET", MSG2))
    assert seconds == 0
    limiter.record_response(reserved, 200, headers(remaining=4), b"[]")
    seconds, reserved = timed(clock, lambda: limiter.acquire("GET", GUILD_MEMBERS))
    assert seconds == 0
    limiter.record_response(reserved, 200, headers(bucket="m", remaining=9), b"[]")
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == near(2.5)
    assert limiter.stats.route_429 == 1
    assert limiter.stats.invalid_requests == 1


def test_429_with_remaining_left_still_pauses(clock, make_limiter) -> None:
    """A hidden sub-limit: the 429 wins over Remaining > 0."""
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    hdrs = headers(limit=1000, remaining=999, reset_after=1.0, X_RateLimit_Scope="user")
    limiter.record_response(reserved, 429, hdrs, limited_json(4.0))
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == near(4.0)


def test_body_retry_after_beats_header(clock, make_limiter) -> None:
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    hdrs = headers(remaining=0, reset_after=0.5, Retry_After="2", X_RateLimit_Scope="user")
    limiter.record_response(reserved, 429, hdrs, limited_json(1.25))
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == near(1.25)


def test_retry_after_header_used_when_body_has_none(clock, make_limiter) -> None:
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    hdrs = headers(remaining=0, reset_after=0.5, Retry_After="2", X_RateLimit_Scope="user")
    limiter.record_response(reserved, 429, hdrs, b'{"message": "slow down", "code": 0}')
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == near(2.0)


def test_shared_429_pauses_bucket_but_is_not_invalid(clock, make_limiter) -> None:
    limiter = make_limiter(invalid_request_limit=1)
    reserved = limiter.acquire("GET", MSG1)
    hdrs = headers(remaining=9, Retry_After="3", X_RateLimit_Scope="shared")
    body = (
        b'{"message": "The resource is being rate limited.", "retry_after": 2.5, "global": false}'
    )
    limiter.record_response(reserved, 429, hdrs, body)
    stats = limiter.stats
    assert (stats.shared_429, stats.route_429, stats.invalid_requests) == (1, 0, 0)
    # Even with a limit of 1 invalid request, the guard has not tripped.
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == near(2.5)


def test_limiter_does_not_retry(clock, make_limiter) -> None:
    """record_response only records: the caller's retry waits in acquire()."""
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    hdrs = headers(remaining=0, reset_after=1.0, X_RateLimit_Scope="user")
    before = clock.now
    limiter.record_response(reserved, 429, hdrs, limited_json(1.0))
    assert clock.now == before
    assert limiter.stats.requests == 1


# Bans -----------------------------------------------------------------------------------


def test_html_429_is_a_ban_one_backoff_then_error(clock, make_limiter, caplog) -> None:
    limiter = make_limiter(ban_backoff_seconds=60.0)
    caplog.set_level(logging.INFO)
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 429, {"Content-Type": "text/html"}, HTML_BAN)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "ban" in warnings[0].getMessage()
    # Every route waits out the single long back-off, then one probe goes.
    seconds, reserved = timed(clock, lambda: limiter.acquire("GET", GUILD_MEMBERS))
    assert seconds == near(60.0)
    with pytest.raises(RateLimitBanError) as info:
        limiter.record_response(reserved, 429, {}, HTML_BAN)
    message = str(info.value)
    assert "\n" not in message
    assert "banned this IP" in message
    assert "1 hour" in message
    assert "2 invalid requests" in message
    with pytest.raises(RateLimitBanError):
        limiter.acquire("GET", MSG2)
    assert limiter.stats.bans == 2
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_headerless_json_429_is_a_ban(clock, make_limiter) -> None:
    limiter = make_limiter(ban_backoff_seconds=30.0)
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 429, {"Content-Type": "application/json"}, JSON_BAN)
    assert limiter.stats.bans == 1
    seconds, reserved = timed(clock, lambda: limiter.acquire("GET", MSG1))
    assert seconds == near(30.0)
    with pytest.raises(RateLimitBanError, match="Cloudflare"):
        limiter.record_response(reserved, 429, {}, JSON_BAN)


def test_html_429_with_rate_limit_headers_is_still_a_ban(clock, make_limiter) -> None:
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 429, headers(remaining=0), HTML_BAN)
    assert limiter.stats.bans == 1
    assert limiter.stats.route_429 == 0


def test_ban_lifts_when_the_probe_succeeds(clock, make_limiter) -> None:
    limiter = make_limiter(ban_backoff_seconds=60.0)
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 429, {}, HTML_BAN)
    reserved = limiter.acquire("GET", MSG1)  # the probe, after 60 s
    limiter.record_response(reserved, 200, headers(remaining=4), b"[]")
    seconds, reserved = timed(clock, lambda: limiter.acquire("GET", MSG2))
    assert seconds == 0
    limiter.record_response(reserved, 200, headers(remaining=4), b"[]")
    assert clock.now - 1000.0 == near(60.0)


def test_ban_responses_in_flight_during_backoff_are_one_episode() -> None:
    """Parallel requests sent before the ban all come back banned: still one back-off."""
    vt = VirtualTime()
    limiter = RateLimiter(
        clock=vt.clock,
        sleep=vt.sleep,
        ban_backoff_seconds=60.0,
        max_requests_per_second=float("inf"),
    )
    arrived = threading.Barrier(4)
    sent: list[float] = []
    outcomes: list[str] = []

    def worker(channel: int) -> Callable[[], None]:
        url = f"{API}/channels/{channel}/messages"

        def run() -> None:
            reserved = limiter.acquire("GET", url)
            sent.append(vt.clock())
            arrived.wait(timeout=5)  # all four are in flight when the bans come back
            limiter.record_response(reserved, 429, {}, HTML_BAN)
            try:
                reserved = limiter.acquire("GET", url)
                sent.append(vt.clock())
                limiter.record_response(reserved, 429, {}, HTML_BAN)
                outcomes.append("no error")
            except RateLimitBanError:
                outcomes.append("banned")

        return run

    vt.run([worker(c) for c in range(1, 5)])
    assert outcomes == ["banned"] * 4
    # Four requests before the ban, exactly one probe after the back-off.
    assert len(sent) == 5
    assert sent[-1] - sent[0] == near(60.0, abs=0.1)
    assert limiter.stats.bans == 5


def test_network_error_on_ban_probe_lets_another_probe_go(clock, make_limiter) -> None:
    limiter = make_limiter(ban_backoff_seconds=10.0)
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 429, {}, HTML_BAN)
    reserved = limiter.acquire("GET", MSG1)
    limiter.release(reserved)  # the probe died on the network
    seconds, reserved = timed(clock, lambda: limiter.acquire("GET", MSG2))
    assert seconds == 0
    with pytest.raises(RateLimitBanError):
        limiter.record_response(reserved, 429, {}, HTML_BAN)


# Invalid-request guard ------------------------------------------------------------------


def forbidden(limiter: RateLimiter, n: int, status: int = 403) -> None:
    for i in range(n):
        url = f"{API}/channels/{100 + i}/messages"
        reserved = limiter.acquire("GET", url)
        limiter.record_response(reserved, status, {}, b'{"message": "Missing Access"}')


def test_invalid_guard_trips_exactly_at_the_limit(make_limiter) -> None:
    limiter = make_limiter(invalid_request_limit=10)
    forbidden(limiter, 9)
    reserved = limiter.acquire("GET", MSG1)  # 9 invalid requests: still allowed
    limiter.record_response(reserved, 403, {}, b"{}")  # the 10th
    with pytest.raises(RateLimitBanError) as info:
        limiter.acquire("GET", MSG2)
    message = str(info.value)
    assert "\n" not in message
    assert "invalid_request_limit" in message
    assert "10 x 403" in message
    assert "permission" in message
    stats = limiter.stats
    assert (stats.invalid_requests, stats.invalid_requests_window) == (10, 10)


def test_invalid_guard_counts_401_403_and_route_429_only(make_limiter) -> None:
    limiter = make_limiter(invalid_request_limit=100)
    forbidden(limiter, 2, status=401)
    forbidden(limiter, 3, status=404)
    forbidden(limiter, 2, status=400)
    forbidden(limiter, 1, status=500)
    assert limiter.stats.invalid_requests == 2


def test_invalid_window_slides(clock, make_limiter) -> None:
    limiter = make_limiter(invalid_request_limit=10)
    forbidden(limiter, 9)
    clock.advance(300)
    assert limiter.stats.invalid_requests_window == 9
    clock.advance(300)  # the first nine are now 10 minutes old
    assert limiter.stats.invalid_requests_window == 0
    forbidden(limiter, 9)
    limiter.acquire("GET", MSG1)
    stats = limiter.stats
    assert (stats.invalid_requests, stats.invalid_requests_window) == (18, 9)


def test_default_invalid_limit_is_1000(make_limiter) -> None:
    limiter = make_limiter()
    forbidden(limiter, 999)
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 403, {}, b"{}")
    with pytest.raises(RateLimitBanError, match="1000"):
        limiter.acquire("GET", MSG1)


# Logging and stats -------------------------------------------------------------------------


def test_routine_waits_log_debug_only_very_long_ones_info(clock, make_limiter, caplog) -> None:
    # A bucket's reset (seconds) is routine pacing: DEBUG. A wait longer than the
    # progress interval is announced at INFO, or the run would look stuck.
    limiter = make_limiter()
    caplog.set_level(logging.DEBUG, logger="tap_discord.ratelimit")
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 200, headers(remaining=0, reset_after=45.0), b"[]")
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 200, headers(remaining=0, reset_after=4.0), b"[]")
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 200, headers(remaining=0, reset_after=0.4), b"[]")
    limiter.acquire("GET", MSG1)
    waits = [r for r in caplog.records if "Rate limit" in r.getMessage()]
    assert [r.levelno for r in waits] == [logging.INFO, logging.DEBUG, logging.DEBUG]
    assert "45.0 s" in waits[0].getMessage()
    assert "GET /channels/{channel_id}/messages [channel_id=1]" in waits[0].getMessage()
    assert "waited 4.0" in waits[1].getMessage()
    stats = limiter.stats
    assert stats.waits == 3
    assert stats.wait_seconds == pytest.approx(49.4, abs=0.05)
    assert stats.longest_wait == near(45.0)


def test_stats_count_responses_by_status(clock, make_limiter) -> None:
    limiter = make_limiter()
    for status in (200, 200, 403):
        limiter.record_response(limiter.acquire("GET", MSG1), status, {}, b"[]")
    limiter.release(limiter.acquire("GET", MSG2))  # no response: timeout, dropped connection
    assert limiter.stats.by_status == {"200": 2, "403": 1, "none": 1}


def test_global_wait_names_the_global_limit(clock, make_limiter, caplog) -> None:
    limiter = make_limiter()
    caplog.set_level(logging.DEBUG, logger="tap_discord.ratelimit")
    reserved = limiter.acquire("GET", MSG1)
    hdrs = {"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"}
    limiter.record_response(reserved, 429, hdrs, limited_json(2.0, is_global=True))
    limiter.acquire("GET", MSG2)
    assert any("global rate limit" in r.getMessage() for r in caplog.records)


def test_webhook_token_never_logged(clock, make_limiter, caplog) -> None:
    limiter = make_limiter()
    caplog.set_level(logging.DEBUG)
    url = f"{API}/webhooks/11/s3cr3t-t0ken"
    reserved = limiter.acquire("GET", url)
    hdrs = headers(remaining=0, reset_after=2, X_RateLimit_Scope="user")
    limiter.record_response(reserved, 429, hdrs, limited_json(2.0))
    limiter.acquire("GET", url)
    assert caplog.records
    assert all("s3cr3t" not in r.getMessage() for r in caplog.records)


def test_stats_is_a_snapshot(make_limiter) -> None:
    limiter = make_limiter()
    before = limiter.stats
    limiter.acquire("GET", MSG1)
    assert isinstance(before, RateLimitStats)
    assert before.requests == 0
    assert limiter.stats.requests == 1


def test_release_gives_the_slot_back(clock, make_limiter) -> None:
    limiter = make_limiter()
    reserved = limiter.acquire("GET", MSG1)
    limiter.record_response(reserved, 200, headers(limit=1, remaining=1), b"[]")
    reserved = limiter.acquire("GET", MSG1)
    limiter.release(reserved)  # network error: the request never counted
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == 0


def test_a_with_block_releases_a_reservation_left_without_response(clock, make_limiter) -> None:
    limiter = make_limiter()
    with limiter.acquire("GET", MSG1) as reserved:
        limiter.record_response(reserved, 200, headers(limit=1, remaining=1), b"[]")
    with pytest.raises(ConnectionResetError), limiter.acquire("GET", MSG1):
        raise ConnectionResetError  # no response: the block gives the slot back
    assert waited(clock, lambda: limiter.acquire("GET", MSG1)) == 0


# The requests adapter -----------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    replies: ClassVar[deque[tuple[int, dict[str, str], bytes]]] = deque()

    def do_GET(self) -> None:
        status, hdrs, body = self.replies.popleft()
        self.send_response(status)
        for name, value in hdrs.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    _Handler.replies.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v10"
    server.shutdown()
    server.server_close()


def session_with(limiter: RateLimiter) -> requests.Session:
    session = requests.Session()
    adapter = RateLimitedAdapter(limiter, pool_maxsize=4)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def test_adapter_acquires_and_records(local_server, clock, make_limiter) -> None:
    limiter = make_limiter()
    _Handler.replies.extend(
        [
            (200, headers(remaining=0, reset_after=3.0), b"[]"),
            (
                429,
                headers(remaining=0, reset_after=1, X_RateLimit_Scope="user", Retry_After="2"),
                limited_json(1.5),
            ),
            (200, headers(remaining=4), b"[]"),
        ]
    )
    session = session_with(limiter)
    url = f"{local_server}/channels/1/messages?limit=100"
    assert session.get(url, timeout=5).status_code == 200
    response = session.get(url, timeout=5)
    assert response.status_code == 429
    assert response.json()["retry_after"] == 1.5  # the body is still readable
    assert session.get(url, timeout=5).status_code == 200
    assert clock.sleeps == near([3.0, 1.5])
    stats = limiter.stats
    assert (stats.requests, stats.route_429, stats.waits) == (3, 1, 2)


def test_adapter_raises_ban_error_on_second_ban(local_server, clock, make_limiter) -> None:
    limiter = make_limiter(ban_backoff_seconds=60)
    _Handler.replies.extend([(429, {"Content-Type": "text/html"}, HTML_BAN)] * 2)
    session = session_with(limiter)
    url = f"{local_server}/guilds/9/members"
    assert session.get(url, timeout=5).status_code == 429
    with pytest.raises(RateLimitBanError):
        session.get(url, timeout=5)
    assert clock.sleeps == near([60.0])


def test_adapter_releases_the_slot_on_connection_error(clock, make_limiter) -> None:
    limiter = make_limiter()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    session = session_with(limiter)
    url = f"http://127.0.0.1:{port}/api/v10/users/@me/guilds"
    for _ in range(3):  # an unknown bucket allows one request in flight: it must be freed
        with pytest.raises(requests.ConnectionError):
            session.get(url, timeout=2)
    assert clock.sleeps == []


def test_prioritized_threads_take_global_slots_lowest_value_first() -> None:
    """The prefetcher's lanes: the one nearest the output goes first, the rate unchanged."""
    vt = VirtualTime()
    limiter = RateLimiter(clock=vt.clock, sleep=vt.sleep)  # default 50/s
    server = FakeDiscord(
        vt.clock, [Rule(r"/channels/(\d+)/messages", "msgs", limit=1000, window=1.0)]
    )

    def lane(priority: int) -> Callable[[], None]:
        def run() -> None:
            limiter.set_priority(priority)
            pager(limiter, server, f"{API}/channels/{priority}/messages", 30)()

        return run

    vt.run([lane(c) for c in reversed(range(8))])
    assert server.statuses() == [200] * 240
    times = sorted(entry[0] for entry in server.log)
    assert all(later - earlier >= 0.02 - 1e-9 for earlier, later in itertools.pairwise(times))
    assert times[-1] - times[0] == near(239 / 50)
    last = [max(t for t, *rest in server.log if f"/channels/{c}/" in str(rest)) for c in range(8)]
    assert last == sorted(last), "lanes finish in priority order"
    assert last[0] < times[0] + 40 / 50, "lane 0 barely waits"


def test_the_stats_can_be_read_from_inside_the_limiter_as_a_signal_handler_does() -> None:
    """SIGTERM's handler runs on the main thread wherever it is, also inside the
    limiter's lock, and the run summary it logs reads `stats`: that must not hang."""
    read: list[RateLimitStats] = []
    limiter: RateLimiter | None = None
    handled = threading.Event()

    def clock() -> float:  # the limiter reads its clock while it holds its lock
        if limiter is not None and not handled.is_set():
            handled.set()  # `stats` reads the clock too
            read.append(limiter.stats)
        return 0.0

    limiter = RateLimiter(max_requests_per_second=50, clock=clock, sleep=lambda _: None)

    def one_request() -> None:
        assert limiter is not None
        with limiter.acquire("GET", "https://discord.com/api/v10/users/@me"):
            pass

    worker = threading.Thread(target=one_request, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "reading the stats inside the limiter's lock hung"
    assert len(read) == 1 and read[0].requests == 0
