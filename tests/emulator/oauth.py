"""OAuth2: token endpoint, rotation, revocation, Bearer users.

Endpoints: https://discord.com/developers/docs/topics/oauth2
Rotation: docs/discord-behaviour.md#oauth2-refresh-tokens
Bearer routes: docs/discord-behaviour.md#routes-a-bearer-token-may-call

An *authorization* is one user's grant of some scopes to one client. Its refresh
token is single-use: every refresh returns a new one and the old one is dead
(`invalid_grant`). Revoking any token of an authorization kills all of them.
Access tokens expire after `settings.access_token_ttl` seconds.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from tests.emulator.snowflakes import iso_from_ms

if TYPE_CHECKING:
    from tests.emulator.core import Emulator, Principal, Response

FORM_TYPE = "application/x-www-form-urlencoded"
INVALID_REFRESH = {
    "error": "invalid_grant",
    "error_description": 'Invalid "refresh_token" in request',
}
INVALID_CODE = {"error": "invalid_grant", "error_description": 'Invalid "code" in request.'}
INVALID_CLIENT = {"error": "invalid_client"}
UNSUPPORTED_GRANT = {
    "error": "unsupported_grant_type",
    "error_description": "Unsupported grant type",
}
NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]


@dataclass
class Authorization:
    """One user's grant of scopes to one client, and its live tokens."""

    number: int
    client_id: str
    user: dict[str, Any]
    scopes: tuple[str, ...]
    refresh_token: str | None = None
    access_tokens: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass
class AccessGrant:
    """What an access token stands for, and until when."""

    token: str
    authorization: Authorization
    expires_at: float

    @property
    def user(self) -> dict[str, Any]:
        """The authorizing user."""
        return self.authorization.user

    @property
    def scopes(self) -> tuple[str, ...]:
        """Granted scopes."""
        return self.authorization.scopes


class OAuthStore:
    """Authorizations, refresh tokens and access tokens (thread-safe)."""

    def __init__(self, emulator: Emulator) -> None:
        """Nothing issued yet."""
        self.emu = emulator
        self.lock = threading.Lock()
        self.authorizations: list[Authorization] = []
        self.refresh_tokens: dict[str, Authorization] = {}
        self.access_tokens: dict[str, AccessGrant] = {}
        #: every refresh and access token ever issued (secret scans of the tap's output)
        self.issued: set[str] = set()

    # issuing --------------------------------------------------------------------------

    def issue_refresh_token(
        self, client_id: str, scopes: str | Iterable[str], user: dict[str, Any] | str | None
    ) -> str:
        """Seed a user authorization, as if the user had just gone through the consent
        screen; returns its refresh token."""
        if client_id not in self.emu.settings.oauth_clients:
            raise ValueError(f"client {client_id} is not in settings.oauth_clients")
        auth = self._authorize(client_id, scopes, self._user(user))
        with self.lock:
            return self._new_refresh(auth)

    def issue_access_token(
        self, client_id: str, scopes: str | Iterable[str], user: dict[str, Any] | str | None
    ) -> str:
        """An access token without a refresh token (for Bearer-route tests)."""
        auth = self._authorize(client_id, scopes, self._user(user))
        with self.lock:
            return self._new_access(auth).token

    def _authorize(
        self, client_id: str, scopes: str | Iterable[str], user: dict[str, Any]
    ) -> Authorization:
        scope_list = tuple(scopes.split() if isinstance(scopes, str) else scopes)
        with self.lock:
            auth = Authorization(len(self.authorizations) + 1, client_id, user, scope_list)
            self.authorizations.append(auth)
        return auth

    def _user(self, user: dict[str, Any] | str | None) -> dict[str, Any]:
        """A user object from a user, a user id, or None (a member of the first guild)."""
        if isinstance(user, dict):
            return user
        world = self.emu.world
        members = [m["user"] for gid in world.members for m in world.members[gid]]
        humans = [u for u in members if not u.get("bot")]
        if user is None:
            return humans[0]
        for candidate in members:
            if candidate["id"] == str(user):
                return candidate
        raise ValueError(f"no user {user} in this world")

    def _new_refresh(self, auth: Authorization) -> str:
        """Rotate: a fresh refresh token; the previous one stops working (lock held)."""
        if auth.refresh_token is not None:
            self.refresh_tokens.pop(auth.refresh_token, None)
        token = secrets.token_urlsafe(22)
        self.issued.add(token)
        auth.refresh_token = token
        self.refresh_tokens[token] = auth
        return token

    def _new_access(self, auth: Authorization) -> AccessGrant:
        """A fresh access token valid for `access_token_ttl` seconds (lock held)."""
        token = secrets.token_urlsafe(22)
        self.issued.add(token)
        grant = AccessGrant(token, auth, time.time() + self.emu.settings.access_token_ttl)
        self.access_tokens[token] = grant
        auth.access_tokens.add(token)
        return grant

    def revoke(self, auth: Authorization) -> None:
        """Kill every token of an authorization (lock held)."""
        auth.revoked = True
        if auth.refresh_token is not None:
            self.refresh_tokens.pop(auth.refresh_token, None)
            auth.refresh_token = None
        for token in auth.access_tokens:
            self.access_tokens.pop(token, None)
        auth.access_tokens.clear()

    # Bearer principals ----------------------------------------------------------------

    def principal(self, token: str) -> Principal | None:
        """The Bearer principal of an access token, if it is valid now."""
        from tests.emulator.core import Principal

        with self.lock:
            grant = self.access_tokens.get(token)
        if grant is None or grant.authorization.revoked or time.time() >= grant.expires_at:
            return None
        return Principal("bearer", token, grant)

    def user_view(self, principal: Principal) -> dict[str, Any]:
        """`/users/@me` for a Bearer token (`email` scope adds email and verified)."""
        user = dict(principal.user)
        user.update(mfa_enabled=False, locale="en-US", premium_type=0)
        if "email" in principal.scopes:
            user.update(email=f"{user['username']}@example.com", verified=True)
        return user

    def connections(self, principal: Principal) -> list[dict[str, Any]]:
        """`/users/@me/connections`: two linked accounts, derived from the user id."""
        user = principal.user
        return [
            {
                "type": kind,
                "id": f"{int(user['id']) % 10**9 + offset}",
                "name": f"{user['username']}-{kind}",
                "visibility": 1,
                "friend_sync": False,
                "show_activity": True,
                "verified": True,
                "two_way_link": False,
                "metadata_visibility": 0,
                "revoked": False,
            }
            for offset, kind in enumerate(("github", "steam"))
        ]

    def authorization_info(self, principal: Principal) -> dict[str, Any]:
        """`/oauth2/@me`: application, scopes, expiry and (with identify) the user."""
        app = self.emu.world.application
        keys = ("id", "name", "icon", "description", "hook", "bot_public")
        info: dict[str, Any] = {
            "application": {k: app[k] for k in keys}
            | {"bot_require_code_grant": False, "verify_key": app["verify_key"], "flags": 0},
            "scopes": list(principal.scopes),
            "expires": iso_from_ms(int(principal.grant.expires_at * 1000)),
        }
        if "identify" in principal.scopes:
            info["user"] = principal.user
        return info

    # token endpoint -------------------------------------------------------------------

    def token_endpoint(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        fault: str | None,
        number: int,
    ) -> tuple[Response, str | None]:
        """`POST /oauth2/token` and `/oauth2/token/revoke` (form-encoded only)."""
        from tests.emulator import errors
        from tests.emulator.core import json_response

        revoke = path.rstrip("/") == "/oauth2/token/revoke"
        if path.rstrip("/") not in ("/oauth2/token", "/oauth2/token/revoke"):
            return json_response(404, errors.NOT_FOUND), None
        if method != "POST":
            return json_response(405, errors.METHOD_NOT_ALLOWED), None
        if fault is not None and fault != "slow":
            response = self.emu.fault_response(fault, number, None, method, path)
            return response, "shared_429" if fault == "shared_429" else f"fault:{fault}"
        if _content_type(headers) != FORM_TYPE:
            return oauth_response(400, UNSUPPORTED_GRANT), None
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        client = self._client(headers, form)
        if client is None:
            return oauth_response(401, INVALID_CLIENT), None
        client_id, via_basic = client
        if revoke:
            return self._revoke(client_id, form), None
        return self._grant(client_id, via_basic, form), None

    def _client(self, headers: Mapping[str, str], form: dict[str, str]) -> tuple[str, bool] | None:
        """The authenticated client id (Basic or body fields) and whether Basic was used."""
        basic = _basic_credentials(headers.get("Authorization"))
        if basic is not None:
            client_id, secret, via_basic = basic[0], basic[1], True
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
            via_basic = False
        expected = self.emu.settings.oauth_clients.get(client_id)
        if not client_id or expected is None or not secrets.compare_digest(expected, secret):
            return None
        return client_id, via_basic

    def _grant(self, client_id: str, via_basic: bool, form: dict[str, str]) -> Response:
        grant_type = form.get("grant_type")
        if grant_type == "refresh_token":
            return self._refresh(client_id, form.get("refresh_token", ""))
        if grant_type == "client_credentials":
            if not via_basic:
                return oauth_response(401, INVALID_CLIENT)
            return self._client_credentials(client_id, form.get("scope", "identify"))
        if grant_type == "authorization_code":
            return oauth_response(400, INVALID_CODE)
        return oauth_response(400, UNSUPPORTED_GRANT)

    def _refresh(self, client_id: str, refresh_token: str) -> Response:
        """Rotate the refresh token; a used, unknown or revoked one is `invalid_grant`."""
        with self.lock:
            auth = self.refresh_tokens.get(refresh_token)
            if auth is None or auth.revoked or auth.client_id != client_id:
                return oauth_response(400, INVALID_REFRESH)
            new_refresh = self._new_refresh(auth)
            grant = self._new_access(auth)
        body = self._token_body(grant)
        body["refresh_token"] = new_refresh
        return oauth_response(200, body)

    def _client_credentials(self, client_id: str, scope: str) -> Response:
        """A token for the application's owner; no refresh token."""
        owner = self.emu.world.application["owner"]
        auth = self._authorize(client_id, scope, owner)
        with self.lock:
            grant = self._new_access(auth)
        return oauth_response(200, self._token_body(grant))

    def _token_body(self, grant: AccessGrant) -> dict[str, Any]:
        return {
            "access_token": grant.token,
            "token_type": "Bearer",
            "expires_in": round(self.emu.settings.access_token_ttl),
            "scope": " ".join(grant.scopes),
        }

    def _revoke(self, client_id: str, form: dict[str, str]) -> Response:
        """Revoking any token of an authorization revokes all of them.

        https://discord.com/developers/docs/topics/oauth2#authorization-code-grant-token-revocation-example
        """
        token = form.get("token", "")
        with self.lock:
            auth = self.refresh_tokens.get(token)
            if auth is None and token in self.access_tokens:
                auth = self.access_tokens[token].authorization
            if auth is not None and auth.client_id == client_id:
                self.revoke(auth)
        return oauth_response(200, {})


def oauth_response(status: int, body: dict[str, Any]) -> Response:
    """A token-endpoint answer: JSON, never cached."""
    from tests.emulator.core import json_response

    return json_response(status, body, list(NO_STORE))


def _content_type(headers: Mapping[str, str]) -> str:
    """The media type of the request body, lower-cased, without parameters."""
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(client_id, secret) from `Authorization: Basic ...`, if present and well-formed."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None
