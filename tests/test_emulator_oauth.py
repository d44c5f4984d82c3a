"""The emulator's OAuth2: rotation, reuse, expiry, Bearer scope.

https://discord.com/developers/docs/topics/oauth2 and
docs/discord-behaviour.md#oauth2-refresh-tokens
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests.emulator import Emulator, WorldSpec

BOT = "oauth-test-bot-token"
CLIENT, SECRET = "1234567890", "s3cret"
INVALID_GRANT = {
    "error": "invalid_grant",
    "error_description": 'Invalid "refresh_token" in request',
}
UNAUTHORIZED = {"message": "401: Unauthorized", "code": 0}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(WorldSpec.small(), bot_token=BOT) as emulator:
        emulator.settings.oauth_clients[CLIENT] = SECRET
        yield emulator


def token_url(emu: Emulator, versioned: bool = True) -> str:
    return f"{emu.api_url}/oauth2/token" if versioned else f"{emu.base_url}/api/oauth2/token"


def refresh(emu: Emulator, refresh_token: str, basic: bool = True, **extra) -> requests.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    if basic:
        return requests.post(token_url(emu), data=form, auth=(CLIENT, SECRET), timeout=10)
    form.update(client_id=CLIENT, client_secret=SECRET)
    return requests.post(token_url(emu, versioned=False), data=form, timeout=10)


def bearer(emu: Emulator, token: str, path: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(emu.api_url + path, headers=headers, timeout=10)


def test_refresh_rotates_and_the_old_token_dies(emu: Emulator) -> None:
    first = emu.issue_refresh_token(CLIENT, "identify guilds")
    response = refresh(emu, first)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 604800
    assert body["scope"] == "identify guilds"
    assert body["refresh_token"] != first
    reused = refresh(emu, first)
    assert (reused.status_code, reused.json()) == (400, INVALID_GRANT)
    second = refresh(emu, body["refresh_token"], basic=False)  # body-field client auth
    assert second.status_code == 200
    assert bearer(emu, body["access_token"], "/users/@me").status_code == 200
    kinds = [(r.route, r.status) for r in emu.requests]
    assert kinds[:3] == [("oauth2_token", 200), ("oauth2_token", 400), ("oauth2_token", 200)]


def test_unknown_refresh_token_and_bad_client(emu: Emulator) -> None:
    response = refresh(emu, "never-issued")
    assert (response.status_code, response.json()) == (400, INVALID_GRANT)
    token = emu.issue_refresh_token(CLIENT, "identify")
    form = {"grant_type": "refresh_token", "refresh_token": token}
    wrong = requests.post(token_url(emu), data=form, auth=(CLIENT, "nope"), timeout=10)
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid_client"})
    assert refresh(emu, token).status_code == 200, "a refused client did not use the token"


def test_token_endpoint_is_form_only(emu: Emulator) -> None:
    token = emu.issue_refresh_token(CLIENT, "identify")
    form = {"grant_type": "refresh_token", "refresh_token": token}
    response = requests.post(token_url(emu), json=form, auth=(CLIENT, SECRET), timeout=10)
    assert response.status_code == 400
    assert refresh(emu, token).status_code == 200
    assert requests.get(token_url(emu), timeout=10).status_code == 405


def test_client_credentials_has_no_refresh_token(emu: Emulator) -> None:
    form = {"grant_type": "client_credentials", "scope": "identify guilds"}
    response = requests.post(token_url(emu), data=form, auth=(CLIENT, SECRET), timeout=10)
    body = response.json()
    assert response.status_code == 200 and "refresh_token" not in body
    assert body["scope"] == "identify guilds"
    me = bearer(emu, body["access_token"], "/users/@me").json()
    assert me["id"] == emu.world.application["owner"]["id"]


def test_access_tokens_expire(emu: Emulator) -> None:
    emu.settings.access_token_ttl = 0.3
    body = refresh(emu, emu.issue_refresh_token(CLIENT, "identify")).json()
    assert body["expires_in"] == 0
    assert bearer(emu, body["access_token"], "/users/@me").status_code == 200
    time.sleep(0.35)
    expired = bearer(emu, body["access_token"], "/users/@me")
    assert (expired.status_code, expired.json()) == (401, UNAUTHORIZED)
    assert refresh(emu, body["refresh_token"]).status_code == 200


def test_revoke_kills_every_token_of_the_authorization(emu: Emulator) -> None:
    body = refresh(emu, emu.issue_refresh_token(CLIENT, "identify")).json()
    form = {"token": body["access_token"], "token_type_hint": "access_token"}
    revoke_url = f"{emu.base_url}/api/oauth2/token/revoke"
    assert requests.post(revoke_url, data=form, auth=(CLIENT, SECRET), timeout=10).ok
    assert bearer(emu, body["access_token"], "/users/@me").status_code == 401
    again = refresh(emu, body["refresh_token"])
    assert (again.status_code, again.json()) == (400, INVALID_GRANT)
    assert emu.requests[0].route == "oauth2_token" and emu.requests[1].route == "oauth2_revoke"


def test_bearer_routes_and_scopes(emu: Emulator) -> None:
    token = refresh(emu, emu.issue_refresh_token(CLIENT, "identify guilds email")).json()[
        "access_token"
    ]
    me = bearer(emu, token, "/users/@me").json()
    assert me["email"].endswith("@example.com") and "bot" not in me
    guilds = bearer(emu, token, "/users/@me/guilds").json()
    mine = {
        g["id"]
        for g in emu.world.guilds
        if any(m["user"]["id"] == me["id"] for m in emu.world.members[g["id"]])
    }
    assert {g["id"] for g in guilds} == mine and mine
    info = bearer(emu, token, "/oauth2/@me").json()
    assert set(info["scopes"]) == {"identify", "guilds", "email"} and info["user"]["id"] == me["id"]
    # missing scopes and bot-only routes: 401
    gid = sorted(mine, key=int)[0]
    for path in (f"/users/@me/guilds/{gid}/member", "/users/@me/connections"):
        response = bearer(emu, token, path)
        assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    for path in (
        f"/guilds/{gid}",
        f"/guilds/{gid}/roles",
        f"/guilds/{gid}/channels",
        f"/guilds/{gid}/members",
        "/applications/@me",
    ):
        response = bearer(emu, token, path)
        assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_member_and_connections_with_their_scopes(emu: Emulator) -> None:
    scopes = "identify guilds.members.read connections"
    token = refresh(emu, emu.issue_refresh_token(CLIENT, scopes)).json()["access_token"]
    user_id = bearer(emu, token, "/users/@me").json()["id"]
    gid = next(
        g["id"]
        for g in emu.world.guilds
        if any(m["user"]["id"] == user_id for m in emu.world.members[g["id"]])
    )
    member = bearer(emu, token, f"/users/@me/guilds/{gid}/member").json()
    assert member["user"]["id"] == user_id
    assert bearer(emu, token, "/users/@me/connections").json()
    assert bearer(emu, token, "/users/@me/guilds").status_code == 401  # no `guilds` scope
    bot = requests.get(
        f"{emu.api_url}/oauth2/@me", headers={"Authorization": f"Bot {BOT}"}, timeout=10
    )
    assert bot.status_code == 401


def test_a_faulted_token_request_changes_nothing(emu: Emulator) -> None:
    token = emu.issue_refresh_token(CLIENT, "identify")
    emu.settings.update(faults={"5xx_json": 1.0}, max_faults=1)
    assert refresh(emu, token).status_code >= 500
    assert refresh(emu, token).status_code == 200, "the faulted refresh did not rotate"
