"""The emulator's rate limits, bans and injected faults.

https://discord.com/developers/docs/topics/rate-limits and
docs/discord-behaviour.md#rate-limits
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator

import pytest
import requests

from tests.emulator import Emulator, WorldSpec

TOKEN = "limits-test-token"
SCALE = 0.05
"""Windows 20x shorter: messages allow 5 per 0.25 s."""


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emulator:
        yield emulator


@pytest.fixture
def real(emu: Emulator) -> Emulator:
    emu.settings.update(rate_limits="real", time_scale=SCALE)
    return emu


@pytest.fixture
def http() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bot {TOKEN}"
    return session


def readable_channels(emu: Emulator) -> list[str]:
    return [
        c["id"]
        for cs in emu.world.channels.values()
        for c in cs
        if c["type"] == 0 and emu.visible_messages(c["id"])
    ]


def messages_url(emu: Emulator, channel_id: str) -> str:
    return f"{emu.api_url}/channels/{channel_id}/messages"


ROUTE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Reset-After",
    "X-RateLimit-Bucket",
)


def assert_no_rate_limit_headers(response: requests.Response) -> None:
    assert not [h for h in response.headers if h.lower().startswith("x-ratelimit")]


# headers --------------------------------------------------------------------------------


def test_route_headers_and_one_bucket_across_channels(real: Emulator, http) -> None:
    first, second = readable_channels(real)[:2]
    a = http.get(messages_url(real, first), timeout=10)
    b = http.get(messages_url(real, second), timeout=10)
    for response in (a, b):
        assert all(h in response.headers for h in ROUTE_HEADERS)
        assert response.headers["X-RateLimit-Limit"] == "5"
        assert response.headers["X-RateLimit-Remaining"] == "4"  # counted per channel
        assert re.fullmatch(r"\d+\.\d{3}", response.headers["X-RateLimit-Reset"])
        assert re.fullmatch(r"\d+\.\d{3}", response.headers["X-RateLimit-Reset-After"])
        reset = float(response.headers["X-RateLimit-Reset"])
        assert abs(reset - time.time() - 5 * SCALE) < 0.5
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-RateLimit-Bucket"])
    assert a.headers["X-RateLimit-Bucket"] == b.headers["X-RateLimit-Bucket"]
    gid = real.world.guilds[0]["id"]
    roles = http.get(f"{real.api_url}/guilds/{gid}/roles", timeout=10)
    assert roles.headers["X-RateLimit-Bucket"] != a.headers["X-RateLimit-Bucket"]
    members = http.get(f"{real.api_url}/guilds/{gid}/members", timeout=10)
    assert members.headers["X-RateLimit-Limit"] == "10"


def test_some_routes_send_no_rate_limit_headers(real: Emulator, http) -> None:
    gid = real.world.guilds[0]["id"]
    parent = readable_channels(real)[0]
    for path in (
        f"/guilds/{gid}/threads/active",
        f"/guilds/{gid}/stickers",
        f"/channels/{parent}/threads/archived/public",
    ):
        response = http.get(real.api_url + path, timeout=10)
        assert response.status_code == 200
        assert_no_rate_limit_headers(response)


def test_off_mode_sends_generous_headers_and_never_429s(emu: Emulator, http) -> None:
    channel = readable_channels(emu)[0]
    for _ in range(30):
        response = http.get(messages_url(emu, channel), timeout=10)
        assert response.status_code == 200
        assert int(response.headers["X-RateLimit-Remaining"]) > 1000
    for _ in range(3):
        assert http.get(f"{emu.api_url}/users/@me/guilds", timeout=10).status_code == 200


# 429s ---------------------------------------------------------------------------------------


def test_route_429_body_and_headers(real: Emulator, http) -> None:
    scale = 0.4  # six requests must fit in one window: 2 s, not 0.25 s, on a busy machine
    real.settings.update(time_scale=scale)
    channel, other = readable_channels(real)[:2]
    for remaining in (4, 3, 2, 1, 0):
        response = http.get(messages_url(real, channel), timeout=10)
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
    limited = http.get(messages_url(real, channel), timeout=10)
    assert limited.status_code == 429
    assert limited.headers["Content-Type"].startswith("application/json")
    body = limited.json()
    assert set(body) == {"message", "retry_after", "global"}
    assert body["message"] == "You are being rate limited." and body["global"] is False
    assert 0 < body["retry_after"] <= 5 * scale
    assert limited.headers["Retry-After"] == str(max(1, math.ceil(body["retry_after"])))
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["X-RateLimit-Scope"] == "user"
    assert all(h in limited.headers for h in ROUTE_HEADERS)
    assert "X-RateLimit-Global" not in limited.headers
    assert http.get(messages_url(real, other), timeout=10).status_code == 200
    time.sleep(body["retry_after"] + 0.01)
    assert http.get(messages_url(real, channel), timeout=10).status_code == 200
    kinds = [r.kind for r in real.requests]
    assert kinds.count("route_429") == 1


def test_users_me_guilds_is_one_per_second(real: Emulator, http) -> None:
    real.settings.update(time_scale=1.0)  # a 50 ms window could pass between the two
    assert http.get(f"{real.api_url}/users/@me/guilds", timeout=10).status_code == 200
    response = http.get(f"{real.api_url}/users/@me/guilds", timeout=10)
    assert response.status_code == 429
    assert response.json()["retry_after"] <= 1.0


def test_global_429_above_50_per_second(emu: Emulator, http) -> None:
    emu.settings.update(rate_limits="real", time_scale=1.0)
    gid = emu.world.guilds[0]["id"]
    url = f"{emu.api_url}/guilds/{gid}/threads/active"  # no route limit of its own
    statuses = [http.get(url, timeout=10).status_code for _ in range(55)]
    first_429 = statuses.index(429)
    assert first_429 == 50
    limited = http.get(url, timeout=10)
    assert limited.status_code == 429
    body = limited.json()
    assert body["global"] is True and body["message"] == "You are being rate limited."
    assert 0 < body["retry_after"] <= 1.0
    assert limited.headers["X-RateLimit-Global"] == "true"
    assert limited.headers["X-RateLimit-Scope"] == "global"
    assert limited.headers["Retry-After"] == "1"
    assert not [h for h in limited.headers if h in ROUTE_HEADERS]
    assert {r.kind for r in emu.requests} == {"ok", "global_429"}


def test_shared_429_does_not_count_toward_a_ban(real: Emulator, http) -> None:
    real.settings.update(shared_limits={"messages": (2, 10.0)}, ban_after_invalid=2)
    channel = readable_channels(real)[0]
    statuses = [http.get(messages_url(real, channel), timeout=10) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 429, 429]
    shared = statuses[2]
    assert shared.headers["X-RateLimit-Scope"] == "shared"
    assert shared.json()["message"] == "The resource is being rate limited."
    assert int(shared.headers["X-RateLimit-Remaining"]) > 0
    assert [r.kind for r in real.requests][2:] == ["shared_429", "shared_429"]
    gid = real.world.guilds[0]["id"]
    assert http.get(f"{real.api_url}/guilds/{gid}/roles", timeout=10).status_code == 200


def test_time_scale_multiplies_retry_after(emu: Emulator, http) -> None:
    emu.settings.update(rate_limits="real", time_scale=0.1)
    gid = emu.world.guilds[0]["id"]
    url = f"{emu.api_url}/guilds/{gid}/scheduled-events"
    assert http.get(url, timeout=10).status_code == 200
    limited = http.get(url, timeout=10)  # within the 1 s window (10 s unscaled)
    assert limited.status_code == 429
    assert limited.json()["retry_after"] <= 10 * 0.1


# bans ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["html", "json"])
def test_forced_ban_has_no_headers_and_no_via(emu: Emulator, http, style: str) -> None:
    emu.settings.update(ban=True, ban_style=style)
    response = http.get(f"{emu.api_url}/users/@me", timeout=10)
    assert response.status_code == 429
    assert "Via" not in response.headers and "Retry-After" not in response.headers
    assert_no_rate_limit_headers(response)
    if style == "html":
        assert response.headers["Content-Type"].startswith("text/html")
        assert "error code: 1015" in response.text
    else:
        assert response.json()["code"] == 0
        assert response.json()["message"].startswith("You are being blocked")
    assert emu.requests[-1].kind == "ban"
    emu.settings.ban = False
    assert http.get(f"{emu.api_url}/users/@me", timeout=10).status_code == 200


def test_ban_after_invalid_requests(emu: Emulator) -> None:
    emu.settings.update(ban_after_invalid=3, ban_seconds=0.5)
    bad = requests.Session()
    bad.headers["Authorization"] = "Bot nope"
    assert [bad.get(f"{emu.api_url}/users/@me", timeout=10).status_code for _ in range(3)] == [
        401,
        401,
        401,
    ]
    good = {"Authorization": f"Bot {TOKEN}"}
    banned = requests.get(f"{emu.api_url}/users/@me", headers=good, timeout=10)
    assert banned.status_code == 429 and "error code: 1015" in banned.text
    time.sleep(0.6)
    assert requests.get(f"{emu.api_url}/users/@me", headers=good, timeout=10).status_code == 200


# faults -------------------------------------------------------------------------------------


def one_fault(emu: Emulator, kind: str) -> None:
    emu.settings.update(faults={kind: 1.0}, max_faults=1, slow_seconds=0.3)


def test_fault_5xx_json(emu: Emulator, http) -> None:
    one_fault(emu, "5xx_json")
    response = http.get(f"{emu.api_url}/users/@me", timeout=10)
    assert response.status_code in (500, 502, 503, 504)
    assert response.json()["code"] == 0 and response.headers["Via"] == "1.1 google"
    assert http.get(f"{emu.api_url}/users/@me", timeout=10).status_code == 200
    assert [r.kind for r in emu.requests] == ["fault:5xx_json", "ok"]


def test_fault_5xx_html(emu: Emulator, http) -> None:
    one_fault(emu, "5xx_html")
    response = http.get(f"{emu.api_url}/users/@me", timeout=10)
    assert response.status_code >= 500
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Via" not in response.headers


def test_fault_drop_closes_the_connection(emu: Emulator, http) -> None:
    one_fault(emu, "drop")
    with pytest.raises(requests.ConnectionError):
        http.get(f"{emu.api_url}/users/@me", timeout=10)
    assert http.get(f"{emu.api_url}/users/@me", timeout=10).status_code == 200
    assert [r.kind for r in emu.requests] == ["fault:drop", "ok"]


def test_fault_slow(emu: Emulator, http) -> None:
    one_fault(emu, "slow")
    started = time.monotonic()
    assert http.get(f"{emu.api_url}/users/@me", timeout=10).status_code == 200
    assert time.monotonic() - started >= 0.3
    emu.settings.update(max_faults=2)
    with pytest.raises(requests.Timeout):
        http.get(f"{emu.api_url}/users/@me", timeout=0.1)


def test_fault_truncated_json(emu: Emulator, http) -> None:
    one_fault(emu, "truncated_json")
    channel = readable_channels(emu)[0]
    response = http.get(messages_url(emu, channel), timeout=10)
    assert response.status_code == 200
    with pytest.raises(ValueError, match=r"\w"):
        response.json()
    assert len(response.content) == int(response.headers["Content-Length"])


def test_fault_html_200(emu: Emulator, http) -> None:
    one_fault(emu, "html_200")
    response = http.get(f"{emu.api_url}/users/@me", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("kind", "scope"), [("route_429", "user"), ("global_429", "global"), ("shared_429", "shared")]
)
def test_fault_429s(emu: Emulator, http, kind: str, scope: str) -> None:
    one_fault(emu, kind)
    emu.settings.update(fault_retry_after=0.2)
    channel = readable_channels(emu)[0]
    response = http.get(messages_url(emu, channel), timeout=10)
    assert response.status_code == 429
    assert response.headers["X-RateLimit-Scope"] == scope
    assert response.json()["global"] is (scope == "global")
    assert response.json()["retry_after"] == pytest.approx(0.2)
    if scope == "global":
        assert "X-RateLimit-Bucket" not in response.headers
    else:
        assert "X-RateLimit-Bucket" in response.headers
    expected = "shared_429" if kind == "shared_429" else f"fault:{kind}"
    assert emu.requests[0].kind == expected


def test_faults_are_deterministic_by_seed_and_bounded(http) -> None:
    def pattern(seed: int) -> list[str]:
        with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
            emu.settings.update(
                faults={"5xx_json": 0.2, "route_429": 0.1}, max_faults=5, fault_seed=seed
            )
            for _ in range(40):
                http.get(f"{emu.api_url}/users/@me", timeout=10)
            return [r.kind for r in emu.requests]

    first, again, other = pattern(3), pattern(3), pattern(4)
    assert first == again
    assert first != other
    assert sum(k != "ok" for k in first) == 5


def test_fail_next_compat_knob(emu: Emulator, http) -> None:
    emu.settings.fail_next = [503, 429]
    assert http.get(f"{emu.api_url}/users/@me", timeout=10).status_code == 503
    limited = http.get(f"{emu.api_url}/users/@me", timeout=10)
    assert limited.status_code == 429
    assert_no_rate_limit_headers(limited)
    assert http.get(f"{emu.api_url}/users/@me", timeout=10).status_code == 200
    assert [r.kind for r in emu.requests] == ["fault:503", "route_429", "ok"]


def test_faults_only_touch_the_api(emu: Emulator) -> None:
    emu.settings.update(faults={"drop": 1.0})
    response = requests.get(f"{emu.base_url}/_emulator/stats", timeout=10)
    assert response.status_code == 200
