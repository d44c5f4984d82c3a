"""The OAuth2 authenticator against an in-memory token endpoint that rotates like Discord.

These are unit tests of `DiscordOAuth2`: timing (clock injected), persistence before
use, locking between threads and between "runs" (two authenticators on one store), and
the refusals that must be final. End-to-end runs of the tap against the emulator are in
`test_oauth_e2e.py`.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_discord.auth import (
    DiscordOAuth2,
    auth_mode,
    check_auth_settings,
    route_scope,
    unauthorized_message,
)
from tap_discord.auth.tokenstore import TokenStore, fingerprint
from tap_discord.errors import AuthenticationError, ConfigError, RequestFailedError

API = "http://127.0.0.1:1/api/v10"
CLIENT_ID = "4242"
CLIENT_SECRET = "unit-client-secret-never-print"
REFRESH_0 = "unit-refresh-0-never-print"
SCOPES = "identify guilds connections"


class Clock:
    """A settable clock for expiry decisions."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers.update({"Content-Type": "application/json", **(headers or {})})
    response.reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized"}.get(status, "Error")
    return response


class FakeDiscord:
    """Token endpoint with rotation and reuse rejection, plus Bearer GETs.

    Acts as the `requests.Session` of the authenticator. `faults` holds what the next
    POSTs do instead of answering normally: "timeout", "timeout-after-rotate" (the
    refresh happened but the answer was lost), or an HTTP status.
    """

    def __init__(self, clock: Clock, *, ttl: float = 604800.0, store: Path | None = None) -> None:
        self.clock = clock
        self.ttl = ttl
        self.store = store
        self.live_refresh = {REFRESH_0}
        self.access: dict[str, float] = {}
        self.issued_by_refresh: set[str] = set()
        self.posts: list[dict[str, str]] = []
        self.gets: list[tuple[str, str | None]] = []
        self.faults: list[str | int] = []
        self.counter = 0
        self.lock = threading.Lock()
        self.scope = SCOPES

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        if method == "POST":
            return self._token(kwargs["data"], kwargs["auth"])
        prepared = requests.Request(method, url).prepare()
        kwargs["auth"](prepared)
        return self._get(url, prepared.headers.get("Authorization"))

    def _token(self, form: dict[str, str], auth: requests.auth.HTTPBasicAuth) -> requests.Response:
        with self.lock:
            self.posts.append(dict(form))
            fault = self.faults.pop(0) if self.faults else None
            if fault == "timeout":
                raise requests.ReadTimeout("read timed out")
            if isinstance(fault, int):
                return _response(fault, {"message": "oops"})
            if (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
                return _response(401, {"error": "invalid_client"})
            if form["grant_type"] == "refresh_token":
                if form.get("refresh_token") not in self.live_refresh:
                    return _response(
                        400,
                        {
                            "error": "invalid_grant",
                            "error_description": 'Invalid "refresh_token" in request',
                        },
                    )
                self.live_refresh.discard(form["refresh_token"])
            self.counter += 1
            access = f"unit-access-{self.counter}-never-print"
            self.access[access] = self.clock() + self.ttl
            body = {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": self.ttl,
                "scope": form.get("scope") or self.scope,
            }
            if form["grant_type"] == "refresh_token":
                new_refresh = f"unit-refresh-{self.counter}-never-print"
                self.live_refresh.add(new_refresh)
                self.issued_by_refresh.add(access)
                body["refresh_token"] = new_refresh
            if fault == "timeout-after-rotate":
                raise requests.ReadTimeout("read timed out")
            return _response(200, body)

    def _get(self, url: str, header: str | None) -> requests.Response:
        token = (header or "").removeprefix("Bearer ")
        self.gets.append((url, token))
        if token in self.issued_by_refresh and self.store is not None:
            saved = json.loads(self.store.read_text())
            assert token in {c["access_token"] for c in saved["chains"]}, "used before saved"
        if self.access.get(token, 0) <= self.clock():
            return _response(401, {"message": "401: Unauthorized", "code": 0})
        if url.endswith("/oauth2/@me"):
            return _response(
                200,
                {"application": {"id": CLIENT_ID, "name": "App"}, "scopes": self.scope.split()},
            )
        return _response(200, {"id": "1", "username": "someone"})


def make_auth(
    tmp_path: Path,
    fake: FakeDiscord,
    clock: Clock,
    *,
    refresh: str | None = REFRESH_0,
    access: str | None = None,
    scopes: str | None = None,
    secret: str = CLIENT_SECRET,
    logger: logging.Logger | None = None,
) -> DiscordOAuth2:
    return DiscordOAuth2(
        client_id=CLIENT_ID,
        client_secret=secret,
        refresh_token=refresh,
        access_token=access,
        scopes=scopes,
        api_url=API,
        store=TokenStore(tmp_path / "tokens.json", CLIENT_ID),
        session=fake,  # type: ignore[arg-type]
        max_retries=3,
        logger=logger,
        clock=clock,
        sleep=lambda _s: None,
    )


def get(auth: DiscordOAuth2, fake: FakeDiscord, path: str = "/users/@me") -> requests.Response:
    """A request as the streams send it: authenticate, send, one refresh on 401."""
    for _ in range(2):
        response = fake.request("GET", f"{API}{path}", auth=auth)
        if response.status_code != 401 or not auth.refresh_after_unauthorized():
            return response
    return response


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock, tmp_path: Path) -> FakeDiscord:
    return FakeDiscord(clock, ttl=100.0, store=tmp_path / "tokens.json")


# Settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "mode", "problem"),
    [
        ({"bot_token": "b"}, "bot", None),
        ({"client_id": "1", "client_secret": "s", "refresh_token": "r"}, "oauth", None),
        ({"client_id": "1", "client_secret": "s"}, "oauth", None),
        ({}, "bot", "no credentials"),
        ({"bot_token": " "}, "bot", "no credentials"),
        ({"bot_token": "b", "client_id": "1", "client_secret": "s"}, "bot", "both set"),
        ({"client_id": "1", "refresh_token": "r"}, "oauth", "client_secret is missing"),
        ({"client_secret": "s", "refresh_token": "r"}, "oauth", "client_id is missing"),
    ],
)
def test_mode_is_chosen_by_the_settings_present(config, mode, problem) -> None:
    assert auth_mode(config) == mode
    errors = check_auth_settings(config)
    if problem is None:
        assert errors == []
    else:
        assert len(errors) == 1
        assert problem in errors[0]
        for value in ("s", "r", "b"):
            assert f"'{value}'" not in errors[0]


def test_route_scopes_and_401_lines() -> None:
    assert route_scope("/users/@me") == "identify"
    assert route_scope("/users/@me/guilds") == "guilds"
    assert route_scope("/users/@me/guilds/123/member") == "guilds.members.read"
    assert route_scope("/users/@me/connections") == "connections"
    assert route_scope("/guilds/123/roles") is None
    config = {"client_id": "1", "client_secret": CLIENT_SECRET}
    assert "guilds.members.read" in unauthorized_message(config, "/users/@me/guilds/1/member")
    assert "needs a bot token" in unauthorized_message(config, "/guilds/1")
    assert "bot_token" in unauthorized_message({"bot_token": "x"}, "/guilds/1")


# Refresh timing and persistence ------------------------------------------------------------


def test_refreshes_before_expiry_and_saves_before_use(tmp_path, fake, clock) -> None:
    auth = make_auth(tmp_path, fake, clock)
    assert get(auth, fake).status_code == 200
    assert len(fake.posts) == 1
    clock.now += 85  # 15 s left of 100: outside the 10 s margin
    assert get(auth, fake).status_code == 200
    assert len(fake.posts) == 1
    clock.now += 6  # 9 s left: inside the margin, refresh before Discord would say 401
    assert get(auth, fake).status_code == 200
    assert len(fake.posts) == 2
    assert [p["refresh_token"] for p in fake.posts] == [REFRESH_0, "unit-refresh-1-never-print"]
    assert not any(status for status in fake.faults)


def test_next_run_starts_from_the_store_not_the_spent_config(tmp_path, fake, clock) -> None:
    for run in range(3):
        auth = make_auth(tmp_path, fake, clock)  # the same config every run
        assert get(auth, fake).status_code == 200, run
        clock.now += 200  # the access token has expired by the next run
    assert len(fake.posts) == 3
    assert fake.posts[0]["refresh_token"] == REFRESH_0
    assert fake.posts[2]["refresh_token"] == "unit-refresh-2-never-print"


def test_a_valid_stored_access_token_is_reused_without_refreshing(tmp_path, fake, clock) -> None:
    get(make_auth(tmp_path, fake, clock), fake)
    clock.now += 10
    get(make_auth(tmp_path, fake, clock), fake)
    assert len(fake.posts) == 1


def test_a_new_configured_refresh_token_starts_a_new_chain(tmp_path, fake, clock) -> None:
    get(make_auth(tmp_path, fake, clock), fake)
    fake.live_refresh.add("reauthorized-refresh")
    auth = make_auth(tmp_path, fake, clock, refresh="reauthorized-refresh")
    clock.now += 200
    assert get(auth, fake).status_code == 200
    assert fake.posts[-1]["refresh_token"] == "reauthorized-refresh"
    store = TokenStore(tmp_path / "tokens.json", CLIENT_ID)
    assert len(store.load()) == 2  # the old chain is kept for whoever still configures it


def test_configured_access_token_is_used_until_rejected(tmp_path, fake, clock) -> None:
    fake.access["configured-access"] = clock() + 1000
    auth = make_auth(tmp_path, fake, clock, access="configured-access")
    assert get(auth, fake).status_code == 200
    assert fake.posts == []
    fake.access["configured-access"] = 0  # revoked
    assert get(auth, fake).status_code == 200
    assert len(fake.posts) == 1


def test_client_credentials_without_refresh_token(tmp_path, fake, clock) -> None:
    auth = make_auth(tmp_path, fake, clock, refresh=None, scopes="identify guilds")
    assert get(auth, fake).status_code == 200
    assert fake.posts == [{"grant_type": "client_credentials", "scope": "identify guilds"}]
    assert auth.granted_scopes() == {"identify", "guilds"}
    clock.now += 10
    get(make_auth(tmp_path, fake, clock, refresh=None, scopes="guilds identify"), fake)
    assert len(fake.posts) == 1, "the stored client-credentials token is reused"


# 401 handling ------------------------------------------------------------------------------


def test_one_refresh_per_401_then_final(tmp_path, fake, clock) -> None:
    auth = make_auth(tmp_path, fake, clock)
    get(auth, fake)
    fake.access.clear()  # Discord rejects every token from now on (e.g. missing scope)
    fake.request("GET", f"{API}/users/@me/connections", auth=auth)
    assert auth.refresh_after_unauthorized() is True
    fake.access.clear()
    fake.request("GET", f"{API}/users/@me/connections", auth=auth)
    assert auth.refresh_after_unauthorized() is False
    assert len(fake.posts) == 2


def test_401_on_a_token_another_thread_already_replaced_needs_no_refresh(
    tmp_path, fake, clock
) -> None:
    auth = make_auth(tmp_path, fake, clock)
    fake.request("GET", f"{API}/users/@me", auth=auth)  # this thread sent token 1
    old = auth._local.sent
    clock.now += 95
    other = threading.Thread(target=auth.current_access_token)  # refreshes to token 2
    other.start()
    other.join()
    assert auth.current_access_token() != old
    auth._local.sent = old  # the 401 that comes back is for token 1
    posts = len(fake.posts)
    assert auth.refresh_after_unauthorized() is True
    assert len(fake.posts) == posts


def test_401_on_a_token_that_expired_in_flight_is_not_the_one_refresh(
    tmp_path, fake, clock
) -> None:
    auth = make_auth(tmp_path, fake, clock)
    fake.request("GET", f"{API}/users/@me", auth=auth)
    clock.now += 99  # the request waited in the rate limiter: now within the margin
    assert auth.refresh_after_unauthorized() is True
    fake.request("GET", f"{API}/users/@me", auth=auth)
    fake.access.clear()  # a real refusal of the fresh token: refresh once more, then stop
    assert auth.refresh_after_unauthorized() is True
    fake.request("GET", f"{API}/users/@me", auth=auth)
    fake.access.clear()
    assert auth.refresh_after_unauthorized() is False
    assert len(fake.posts) == 3


# Refusals ----------------------------------------------------------------------------------


def test_reused_refresh_token_is_one_clear_final_line(tmp_path, fake, clock) -> None:
    fake.live_refresh.clear()  # spent, e.g. by a run whose store was lost
    auth = make_auth(tmp_path, fake, clock)
    with pytest.raises(AuthenticationError) as info:
        auth.current_access_token()
    message = str(info.value)
    assert "invalid_grant" in message
    assert "Re-authorize" in message
    assert "\n" not in message
    assert REFRESH_0 not in message
    assert len(fake.posts) == 1, "never retried"


def test_bad_client_secret_is_final(tmp_path, fake, clock) -> None:
    auth = make_auth(tmp_path, fake, clock, secret="wrong-secret")
    with pytest.raises(AuthenticationError, match=r"invalid_client.*client_secret"):
        auth.current_access_token()
    assert len(fake.posts) == 1


def test_transient_failures_are_retried(tmp_path, fake, clock) -> None:
    fake.faults = ["timeout", 502, 429]
    auth = make_auth(tmp_path, fake, clock)
    assert get(auth, fake).status_code == 200
    assert len(fake.posts) == 4


def test_giving_up_after_retries_names_the_last_failure(tmp_path, fake, clock) -> None:
    fake.faults = [503] * 10
    auth = make_auth(tmp_path, fake, clock)
    with pytest.raises(RequestFailedError, match=r"after 4 tries \(last: 503"):
        auth.current_access_token()


def test_lost_refresh_answer_says_discord_may_have_used_the_token(tmp_path, fake, clock) -> None:
    fake.faults = ["timeout-after-rotate"]
    auth = make_auth(tmp_path, fake, clock)
    with pytest.raises(AuthenticationError, match="failed in transit"):
        auth.current_access_token()


def test_unwritable_store_stops_before_the_token_is_used(tmp_path, fake, clock) -> None:
    auth = make_auth(tmp_path, fake, clock)
    auth.store.save = _raise_oserror  # type: ignore[method-assign,assignment]
    with pytest.raises(ConfigError, match="cannot save the rotated OAuth2 tokens"):
        get(auth, fake)
    assert fake.gets == []


def _raise_oserror(_token: object) -> None:
    raise OSError(28, "No space left on device")


# Concurrency -------------------------------------------------------------------------------


def test_threads_share_one_refresh(tmp_path, fake, clock) -> None:
    auth = make_auth(tmp_path, fake, clock)
    barrier = threading.Barrier(8)
    tokens: list[str] = []

    def worker() -> None:
        barrier.wait()
        tokens.append(auth.current_access_token())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tokens)) == 1
    assert len(fake.posts) == 1


def test_two_runs_on_one_store_never_spend_the_same_refresh_token(tmp_path, fake, clock) -> None:
    first = make_auth(tmp_path, fake, clock)
    second = make_auth(tmp_path, fake, clock)
    get(first, fake)
    get(second, fake)  # loads the store written by `first`
    for _ in range(5):
        clock.now += 95
        assert get(first, fake).status_code == 200
        assert get(second, fake).status_code == 200
    assert len(fake.posts) == 6
    used = [p["refresh_token"] for p in fake.posts]
    assert len(set(used)) == len(used)


# Secrets -----------------------------------------------------------------------------------


def test_no_secret_in_logs_or_reprs(tmp_path, fake, clock, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger("tap-discord-unit")
    auth = make_auth(tmp_path, fake, clock, logger=logger)
    get(auth, fake)
    clock.now += 95
    get(auth, fake)
    fake.live_refresh.clear()
    clock.now += 95
    with pytest.raises(AuthenticationError) as info:
        get(auth, fake)
    text = caplog.text + repr(auth) + str(info.value) + repr(auth._token)
    assert "refreshed" in caplog.text
    secrets = [CLIENT_SECRET, REFRESH_0, *fake.access, *fake.live_refresh]
    secrets += [f"unit-refresh-{n}-never-print" for n in range(5)]
    for secret in secrets:
        assert secret not in text
    stored = TokenStore(tmp_path / "tokens.json", CLIENT_ID).find(fingerprint(REFRESH_0))
    assert stored is not None
