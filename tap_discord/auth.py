"""Authentication: which credentials the settings describe, and the authenticator for them.

Two modes, chosen by which settings are present (never both, never neither):

* **bot**: `bot_token`, sent as `Authorization: Bot <token>`; every route works.
* **oauth**: `client_id` + `client_secret` with a `refresh_token` (a user's
  authorization) or without one (the `client_credentials` grant, a token for the app's
  owner); sent as `Authorization: Bearer <access token>`. Only the `/users/@me...`
  routes accept it, so only the user-scope streams are offered.

Discord rotates refresh tokens: each refresh returns a new one and the old one dies.
`DiscordOAuth2` therefore writes every refresh response to a `TokenStore` (atomically,
before the new access token is used) and starts each run from the store when it holds
a newer token than the configured one; see `tokenstore.py`.

Why a `requests.auth.AuthBase` and not the SDK's `OAuthAuthenticator`: in 0.54.9 the
SDK's refresh drops the rotated refresh token, has no expiry margin, no lock, raises a
bare `RuntimeError`, logs the token endpoint's error body, and retries the POST through
urllib3 on its own session. Fixing that means overriding every method but the header
line, so a small purpose-built class (like the SDK's dummyjson sample) is clearer.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import typing as t
from datetime import datetime, timezone

import requests
from singer_sdk import typing as th

from tap_discord.errors import AuthenticationError, ConfigError, RequestFailedError
from tap_discord.tokenstore import (
    MAX_LINEAGE,
    Grant,
    StoredToken,
    TokenStore,
    default_store_path,
    fingerprint,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from tap_discord.tap import TapDiscord

AuthMode = t.Literal["bot", "oauth"]

#: Settings whose presence selects the OAuth2 mode.
OAUTH_SETTINGS = ("client_id", "client_secret", "refresh_token", "access_token")
#: Scopes asked for with the client_credentials grant when `oauth_scopes` is empty.
DEFAULT_CLIENT_CREDENTIALS_SCOPES = "identify"
#: Refresh this long before expiry at most (clock skew, slow requests) ...
EXPIRY_MARGIN_MAX_SECONDS = 300.0
#: ... and at least this share of the token's lifetime before it (short test lifetimes).
EXPIRY_MARGIN_FRACTION = 0.1
#: Which scope each user-scope route needs, for the 401 message (longest prefix first).
ROUTE_SCOPES: tuple[tuple[str, str], ...] = (
    ("/users/@me/guilds/", "guilds.members.read"),
    ("/users/@me/guilds", "guilds"),
    ("/users/@me/connections", "connections"),
    ("/oauth2/@me", "any"),
    ("/users/@me", "identify"),
)
#: Application flags (§5.8): intent name -> (enabled bit, limited bit).
PRIVILEGED_INTENTS: tuple[tuple[str, int, int], ...] = (
    ("Server Members (GUILD_MEMBERS)", 1 << 14, 1 << 15),
    ("Message Content (MESSAGE_CONTENT)", 1 << 18, 1 << 19),
    ("Presence (GUILD_PRESENCES)", 1 << 12, 1 << 13),
)

#: Secrets are strings, but carry no JSON Schema type: the SDK's validation message for
#: a wrong type quotes the value ("123 is not of type 'string'"), which would print a
#: secret that YAML parsed as a number. `check_auth_settings` checks them instead.
SECRET_TYPE = th.CustomType({})
SECRET_SETTINGS = ("bot_token", "client_secret", "refresh_token", "access_token")

#: Settings of the authentication modes, merged into the tap's config schema.
AUTH_PROPERTIES: list[th.Property] = [
    th.Property(
        "bot_token",
        SECRET_TYPE,
        secret=True,
        description="Bot token from the Discord Developer Portal (Bot → Token), "
        "without the `Bot ` prefix. Set this, or the OAuth2 settings, not both.",
    ),
    th.Property(
        "client_id",
        th.StringType,
        description="OAuth2 mode: the application's client id (Developer Portal → OAuth2).",
    ),
    th.Property(
        "client_secret",
        SECRET_TYPE,
        secret=True,
        description="OAuth2 mode: the application's client secret (Developer Portal → "
        "OAuth2 → Reset Secret).",
    ),
    th.Property(
        "refresh_token",
        SECRET_TYPE,
        secret=True,
        description="OAuth2 mode: the refresh token of a user's authorization. Discord "
        "replaces it on every refresh; the tap keeps the newest one in token_store_path "
        "and uses it from then on. Without it the tap uses the client_credentials grant "
        "(a token for the application's owner).",
    ),
    th.Property(
        "access_token",
        SECRET_TYPE,
        secret=True,
        description="OAuth2 mode, optional: a current access token to start with (used "
        "until Discord rejects it or a newer one is in the token store).",
    ),
    th.Property(
        "oauth_scopes",
        th.StringType,
        description="OAuth2 mode, optional: space-separated scopes, e.g. `identify guilds "
        "guilds.members.read connections`. With client_credentials, the scopes to ask "
        f"for (default `{DEFAULT_CLIENT_CREDENTIALS_SCOPES}`). With a refresh_token, the "
        "scopes of the authorization, used to offer only the streams it allows (the tap "
        "otherwise learns them from Discord).",
    ),
    th.Property(
        "token_store_path",
        th.StringType,
        description="OAuth2 mode: file where the tap keeps rotated tokens (mode 0600). "
        "Default `$XDG_STATE_HOME/tap-discord/oauth-<client_id>.json` (usually "
        "`~/.local/state/...`). Must survive between runs: on ephemeral workers point it "
        "at a persistent volume.",
    ),
]


def _setting(config: Mapping[str, t.Any], key: str) -> str:
    """A string setting, stripped; empty when unset (or, for a secret, not a string)."""
    value = config.get(key)
    if value is None or isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value).strip()


def auth_mode(config: Mapping[str, t.Any]) -> AuthMode:
    """The mode the settings select: bot unless only OAuth2 settings are given."""
    if _setting(config, "bot_token"):
        return "bot"
    if any(_setting(config, key) for key in OAUTH_SETTINGS):
        return "oauth"
    return "bot"


def check_auth_settings(config: Mapping[str, t.Any]) -> list[str]:
    """One line per problem with the credentials settings, never echoing a secret."""
    mistyped = [
        key
        for key in SECRET_SETTINGS
        if config.get(key) is not None and not isinstance(config[key], str | int)
    ]
    if mistyped:
        return [
            f"{key} must be a string (it is a {type(config[key]).__name__}); quote it in the config"
            for key in mistyped
        ]
    oauth_given = [key for key in OAUTH_SETTINGS if _setting(config, key)]
    if _setting(config, "bot_token"):
        if oauth_given:
            return [
                "bot_token and OAuth2 settings (" + ", ".join(oauth_given) + ") are both "
                "set: use one mode, bot_token for a bot or client_id/client_secret/"
                "refresh_token for OAuth2, and remove the other"
            ]
        return []
    if not oauth_given:
        return [
            "no credentials: set bot_token (Developer Portal → Bot → Reset Token, e.g. "
            "TAP_DISCORD_BOT_TOKEN) for a bot, or client_id, client_secret and "
            "refresh_token for an OAuth2 user authorization"
        ]
    errors = [
        f"{key} is missing: OAuth2 mode needs client_id and client_secret (Developer "
        "Portal → OAuth2)"
        for key in ("client_id", "client_secret")
        if key not in oauth_given
    ]
    path = _setting(config, "token_store_path")
    if "token_store_path" in config and not path:
        errors.append("token_store_path is empty: remove it for the default, or name a file")
    return errors


def build_authenticator(
    config: Mapping[str, t.Any],
    *,
    api_url: str,
    user_agent: str | None = None,
    prepare_session: Callable[[requests.Session], None] | None = None,
    logger: logging.Logger | None = None,
) -> requests.auth.AuthBase:
    """The authenticator for the configured mode.

    `prepare_session` lets the tap route token requests through its shared rate
    limiter; `api_url` is where `/oauth2/token` lives (the emulator in tests).
    """
    if auth_mode(config) == "bot":
        return BotAuthenticator(_setting(config, "bot_token"))
    client_id = _setting(config, "client_id")
    session = requests.Session()
    if user_agent:
        session.headers["User-Agent"] = user_agent
    if prepare_session is not None:
        prepare_session(session)
    store_path = _setting(config, "token_store_path") or default_store_path(client_id)
    return DiscordOAuth2(
        client_id=client_id,
        client_secret=_setting(config, "client_secret"),
        refresh_token=_setting(config, "refresh_token") or None,
        access_token=_setting(config, "access_token") or None,
        scopes=_setting(config, "oauth_scopes") or None,
        api_url=api_url,
        store=TokenStore(store_path, client_id),
        session=session,
        timeout=float(config.get("request_timeout") or 30),
        max_retries=int(config.get("max_retries", 8)),
        logger=logger,
    )


def unauthorized_message(config: Mapping[str, t.Any], path: str) -> str:
    """The one line for a 401: which credential to fix, never its value."""
    if auth_mode(config) == "bot":
        return (
            f"Discord rejected the bot token (401 Unauthorized on {path}): check bot_token "
            "(Developer Portal → Bot → Reset Token) and that it is a bot token"
        )
    scope = route_scope(path)
    if scope is None:
        hint = "this route needs a bot token; OAuth2 Bearer tokens only work on /users/@me routes"
    elif scope == "any":
        hint = "the authorization was revoked: re-authorize the app and set refresh_token"
    else:
        hint = (
            f"the authorization lacks the `{scope}` scope or was revoked: re-authorize the "
            f"app with `{scope}` in its scopes and set refresh_token to the new token"
        )
    return (
        f"Discord rejected the OAuth2 access token (401 Unauthorized on {path}) even after "
        f"a refresh: {hint}"
    )


def route_scope(path: str) -> str | None:
    """The OAuth2 scope a route needs, or None for a bot-only route."""
    for prefix, scope in ROUTE_SCOPES:
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            return scope
    for prefix, scope in ROUTE_SCOPES:
        if path.startswith(prefix):
            return scope
    return None


class BotAuthenticator(requests.auth.AuthBase):
    """`Authorization: Bot <token>` on every request (the SDK's classes send `Bearer`)."""

    def __init__(self, token: str) -> None:
        """Accept the token with or without its `Bot ` prefix."""
        self._header = f"Bot {token.strip().removeprefix('Bot ').strip()}"

    def __repr__(self) -> str:
        """Never the token."""
        return "BotAuthenticator()"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the header."""
        request.headers["Authorization"] = self._header
        return request


# OAuth2 ---------------------------------------------------------------------------------


class TokenResponse(t.NamedTuple):
    """The fields of a token-endpoint success that the tap keeps."""

    access_token: str
    refresh_token: str | None
    scope: str | None
    expires_in: float | None


class DiscordOAuth2(requests.auth.AuthBase):
    """Bearer authentication with refresh-token rotation that survives runs and crashes.

    * Timing: an access token is refreshed `margin` seconds before it expires (10% of
      its lifetime, at most 5 minutes), and once more when Discord answers 401.
    * Persistence: every token response is saved to the store before its access token
      is used. A run that is killed right after a refresh starts from the saved token.
    * Concurrency: one refresh at a time, in this process (a lock) and across processes
      (the store's file lock); whoever waited re-reads the store and uses the token the
      other refresh produced instead of spending the same refresh token again.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str | None,
        access_token: str | None,
        scopes: str | None,
        api_url: str,
        store: TokenStore,
        session: requests.Session,
        timeout: float = 30.0,
        max_retries: int = 8,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Keep the settings; nothing is read or requested until the first use."""
        self.client_id = client_id
        self._client_secret = client_secret
        self._configured_refresh = refresh_token
        self._configured_access = access_token
        self.configured_scopes = " ".join(scopes.split()) if scopes else None
        self.grant: Grant = "refresh_token" if refresh_token else "client_credentials"
        self.token_url = f"{api_url.rstrip('/')}/oauth2/token"
        self.api_url = api_url.rstrip("/")
        self.store = store
        self.session = session
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.logger = logger or logging.getLogger("tap-discord")
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        self._local = threading.local()
        self._token: StoredToken | None = None
        #: Fingerprint of an access token fetched because of a 401 (a 401 on it is final).
        self._refreshed_for_401: str | None = None
        #: A refusal from the token endpoint: raised again, never re-requested.
        self._fatal: AuthenticationError | ConfigError | None = None

    def __repr__(self) -> str:
        """Client id and store only; never a secret."""
        return (
            f"DiscordOAuth2(client_id={self.client_id!r}, grant={self.grant!r}, "
            f"store={self.store!r})"
        )

    # requests hook ---------------------------------------------------------------------

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set `Authorization: Bearer ...`, refreshing first if the token is (nearly) expired."""
        token = self.current_access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        self._local.sent = token
        return request

    def current_access_token(self) -> str:
        """A usable access token: the one in memory, the store's, or a fresh one."""
        with self._lock:
            token = self._loaded()
            if self._usable(token):
                assert token.access_token is not None
                return token.access_token
            return self._refresh(reason="expired" if token.access_token else "none yet")

    def refresh_after_unauthorized(self) -> bool:
        """Discord said 401: refresh once and retry, unless that already happened.

        Returns True when the request should be retried with the current token: another
        thread already replaced the rejected token, or a refresh just did. Returns False
        when the rejected token was itself fetched because of a 401 (the route needs a
        scope or a bot token, or the authorization is gone): the caller fails for good.

        A token that has reached its refresh margin meanwhile expired in flight (the
        header is set before the rate limiter lets the request go): that 401 is its
        expiry, not a refusal, and does not count as the one refresh.
        """
        sent: str | None = getattr(self._local, "sent", None)
        with self._lock:
            token = self._loaded()
            if sent is not None and token.access_token not in (None, sent) and self._usable(token):
                return True
            if sent is not None and token.access_token == sent and not self._usable(token):
                self._refresh(reason="expired in flight")
                return True
            if sent is not None and fingerprint(sent) == self._refreshed_for_401:
                return False
            new = self._refresh(reason="rejected (401)", rejected=sent)
            self._refreshed_for_401 = fingerprint(new)
            return True

    # Scopes and identity ---------------------------------------------------------------

    def granted_scopes(self) -> frozenset[str] | None:
        """The scopes the token has, without a request when the store or settings know.

        Order: the scope of the newest token response (the truth), then `oauth_scopes`,
        then a refresh (its response names the scopes), then `GET /oauth2/@me`. None
        when Discord does not say; the caller then offers every user stream.
        """
        with self._lock:
            token = self._loaded()
        if token.scope:
            return token.scopes
        if self.configured_scopes:
            return frozenset(self.configured_scopes.split())
        self.current_access_token()
        with self._lock:
            token = self._loaded()
        if token.scope:
            return token.scopes
        info = self.authorization_info()
        scopes = info.get("scopes") if isinstance(info, dict) else None
        if isinstance(scopes, list):
            return frozenset(str(s) for s in scopes)
        return None

    def authorization_info(self) -> dict[str, t.Any]:
        """`GET /oauth2/@me`: application, scopes, expiry and (with identify) the user."""
        body = self.get_json("/oauth2/@me")
        return body if isinstance(body, dict) else {}

    def get_json(self, path: str) -> t.Any:
        """GET an API path with this token (one refresh-and-retry on 401)."""
        for _ in range(2):
            try:
                response = self._send("GET", f"{self.api_url}{path}", auth=self, what=f"GET {path}")
            except _TransientError as exc:
                raise RequestFailedError(
                    f"{exc.description}: cannot reach Discord at {self.api_url}"
                ) from None
            if response.status_code == 401 and self.refresh_after_unauthorized():
                continue
            if response.status_code == 401:
                break
            if response.status_code >= 400:
                raise RequestFailedError(
                    f"Discord answered {response.status_code} to GET {path} with the OAuth2 "
                    "token; check the authorization's scopes"
                )
            try:
                return response.json()
            except ValueError:
                raise RequestFailedError(f"GET {path} returned a body that is not JSON") from None
        raise AuthenticationError(unauthorized_message({"client_id": self.client_id}, path))

    # Token state -----------------------------------------------------------------------

    @property
    def chain_key(self) -> str:
        """How the store finds this configuration's chain."""
        if self._configured_refresh:
            return fingerprint(self._configured_refresh)
        scopes = " ".join(sorted(self._requested_scopes().split()))
        return f"client_credentials:{scopes}"

    @property
    def expires_at(self) -> float | None:
        """When the current access token expires (epoch seconds), if known."""
        with self._lock:
            return self._loaded().expires_at

    def _requested_scopes(self) -> str:
        return self.configured_scopes or DEFAULT_CLIENT_CREDENTIALS_SCOPES

    def _loaded(self) -> StoredToken:
        """The token in memory; on first use, the store's newer one or the configured one."""
        if self._token is None:
            stored = self.store.find(self.chain_key)
            if self.store.problem:
                self.logger.warning(
                    "Ignoring the OAuth2 token store %s: %s. Starting from the configured tokens.",
                    self.store.path,
                    self.store.problem,
                )
            if stored is not None:
                self._token = stored
                if stored.grant == "refresh_token" and stored.lineage[-1] != self.chain_key:
                    self.logger.info(
                        "Using the newer refresh token from the token store %s (the "
                        "configured refresh_token has been rotated since).",
                        self.store.path,
                    )
            else:
                self._token = self._configured()
        return self._token

    def _configured(self) -> StoredToken:
        """The token the settings describe (expiry unknown: used until a 401)."""
        return StoredToken(
            grant=self.grant,
            lineage=(self.chain_key,),
            refresh_token=self._configured_refresh,
            access_token=self._configured_access,
            scope=None,
        )

    def _usable(self, token: StoredToken) -> bool:
        """Has an access token that is not within the refresh margin of its expiry."""
        if not token.access_token:
            return False
        if token.expires_at is None:
            return True
        return token.expires_at - _margin(token.lifetime) > self._clock()

    # Refreshing ------------------------------------------------------------------------

    def _refresh(self, *, reason: str, rejected: str | None = None) -> str:
        """Get a new access token, with the store locked, saving it before returning it.

        The store is re-read under its lock first: if another run or thread refreshed
        meanwhile, its (newer) tokens are used instead of spending a refresh token that
        is no longer valid.
        """
        if self._fatal is not None:
            raise type(self._fatal)(str(self._fatal))
        with self.store.locked():
            stored = self.store.find(self.chain_key)
            current = self._token or self._configured()
            if stored is not None and stored.updated_at >= current.updated_at:
                current = stored
                self._token = stored
                if stored.access_token != rejected and self._usable(stored):
                    assert stored.access_token is not None
                    self.logger.debug("Using the access token another run just refreshed.")
                    return stored.access_token
            started = self._clock()
            if current.grant == "refresh_token" and current.refresh_token:
                form = {"grant_type": "refresh_token", "refresh_token": current.refresh_token}
            else:
                form = {"grant_type": "client_credentials", "scope": self._requested_scopes()}
            try:
                response = self._request_token(form)
            except (AuthenticationError, ConfigError) as exc:
                self._fatal = exc
                raise
            new_refresh = response.refresh_token or current.refresh_token
            lineage = current.lineage
            if new_refresh and new_refresh != current.refresh_token:
                lineage = _capped_lineage((*lineage, fingerprint(new_refresh)))
            token = StoredToken(
                grant=current.grant,
                lineage=lineage,
                refresh_token=new_refresh,
                access_token=response.access_token,
                scope=response.scope or current.scope,
                expires_at=started + response.expires_in if response.expires_in else None,
                lifetime=response.expires_in,
                updated_at=max(self._clock(), current.updated_at + 1e-6),
            )
            try:
                self.store.save(token)
            except OSError as exc:
                raise ConfigError(
                    f"token_store_path: cannot save the rotated OAuth2 tokens to "
                    f"{self.store.path} ({exc.strerror or type(exc).__name__}); Discord has "
                    "already retired the old refresh token, so fix the path or its "
                    "permissions, re-authorize the app and set refresh_token to the new token"
                ) from None
            self._token = token
        self.logger.info(
            "OAuth2 access token refreshed (%s, %s grant; valid %s; scopes: %s); tokens "
            "saved to %s",
            reason,
            form["grant_type"],
            f"{response.expires_in:.0f} s" if response.expires_in else "until rejected",
            token.scope or "unknown",
            self.store.path,
        )
        return response.access_token

    def _request_token(self, form: dict[str, str]) -> TokenResponse:
        """POST the grant, retrying only what may succeed; map refusals to one line.

        `invalid_grant` and `invalid_client` are final and never retried. Network
        failures, 429 and 5xx are retried with backoff; if one of them hid a response
        that already rotated the token, the retry's `invalid_grant` says so.
        """
        in_transit_failure = False
        last = "no attempt"
        wait_hint: float | None = None
        tries = self.max_retries + 1
        for attempt in range(tries):
            if attempt:
                self._sleep(_backoff(attempt) if wait_hint is None else wait_hint)
                self.logger.info("Retrying POST /oauth2/token after try %d: %s", attempt, last)
            wait_hint = None
            try:
                response = self._send(
                    "POST",
                    self.token_url,
                    data=form,
                    auth=requests.auth.HTTPBasicAuth(self.client_id, self._client_secret),
                    headers={"Accept": "application/json"},
                    what="POST /oauth2/token",
                )
            except _TransientError as exc:
                in_transit_failure = True
                last = exc.description.removeprefix("POST /oauth2/token ")
                continue
            status = response.status_code
            if status == 200:
                try:
                    return _parse_token_response(response)
                except ValueError as exc:
                    in_transit_failure = True
                    last = f"200 with an unusable body ({exc})"
                    continue
            if status == 429 or status >= 500:
                in_transit_failure = in_transit_failure or status >= 500
                last = f"{status} {response.reason or ''}".strip()
                wait_hint = _retry_after(response) if status == 429 else None
                continue
            raise self._token_error(status, _oauth_error(response), form, in_transit_failure)
        raise RequestFailedError(
            f"POST /oauth2/token still failed after {tries} tries (last: {last}); Discord "
            f"may be having trouble (or api_url {self.api_url} is wrong), rerun later"
        )

    def _send(self, method: str, url: str, *, what: str, **kwargs: t.Any) -> requests.Response:
        """One request; network failures become a secret-free `_TransientError`."""
        try:
            return self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise _TransientError(f"{what} timed out") from None
        except (requests.ConnectionError, ConnectionResetError):
            raise _TransientError(f"{what} failed to connect") from None

    def _token_error(
        self, status: int, error: str | None, form: Mapping[str, str], in_transit_failure: bool
    ) -> Exception:
        """The one-line, final error for a refused token request."""
        grant = form["grant_type"]
        if error == "invalid_client":
            return AuthenticationError(
                "Discord rejected the OAuth2 client (invalid_client): check client_id and "
                "client_secret (Developer Portal → OAuth2; reset the secret if unsure)"
            )
        if grant == "refresh_token" and error in ("invalid_grant", "invalid_request", None):
            note = (
                " An earlier try of this refresh failed in transit; Discord may have used "
                "the token then."
                if in_transit_failure
                else ""
            )
            return AuthenticationError(
                f"Discord rejected the refresh token ({error or status}): it was already "
                "used, or the authorization was revoked. Re-authorize the app, set "
                "refresh_token to the new refresh token and rerun (the tap keeps the "
                f"rotated tokens in {self.store.path}).{note}"
            )
        if error == "invalid_scope":
            return ConfigError(
                f"oauth_scopes: Discord refused the scopes {self._requested_scopes()!r} for "
                "the client_credentials grant (invalid_scope); team-owned apps may only ask "
                "for identify and applications.commands.update"
            )
        if error in ("unauthorized_client", "unsupported_grant_type"):
            return AuthenticationError(
                f"Discord does not allow the {grant} grant for this application ({error}); "
                "check the application's OAuth2 settings, or set refresh_token"
            )
        return AuthenticationError(
            f"Discord's token endpoint refused the {grant} grant ({status}, "
            f"{error or 'no error code'}): check client_id, client_secret and refresh_token"
        )


class _TransientError(Exception):
    """A token request that failed on the way (retried); carries no request detail."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: up to 0.5 s, 1 s, 2 s ... 30 s."""
    return random.uniform(0, min(30.0, 0.5 * 2 ** (attempt - 1)))  # noqa: S311


def _margin(lifetime: float | None) -> float:
    """Seconds before expiry to refresh: 10% of the lifetime, capped at 5 minutes."""
    if not lifetime:
        return EXPIRY_MARGIN_MAX_SECONDS
    return min(EXPIRY_MARGIN_MAX_SECONDS, lifetime * EXPIRY_MARGIN_FRACTION)


def _capped_lineage(lineage: tuple[str, ...]) -> tuple[str, ...]:
    """Keep the origin (the configured token) and the most recent fingerprints."""
    if len(lineage) <= MAX_LINEAGE:
        return lineage
    return (lineage[0], *lineage[-(MAX_LINEAGE - 1) :])


def _parse_token_response(response: requests.Response) -> TokenResponse:
    """The fields of a success body; ValueError (without the body) when unusable."""
    try:
        body = response.json()
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise ValueError("no access_token")
    token_type = str(body.get("token_type") or "Bearer")
    if token_type.lower() != "bearer":
        raise ValueError(f"token_type {token_type!r}")
    expires_in = body.get("expires_in")
    refresh = body.get("refresh_token")
    scope = body.get("scope")
    return TokenResponse(
        access_token=body["access_token"],
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        scope=" ".join(str(scope).split()) if scope else None,
        expires_in=float(expires_in) if isinstance(expires_in, int | float) else None,
    )


def _oauth_error(response: requests.Response) -> str | None:
    """The RFC 6749 `error` code of a refusal (never its description or the body)."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return str(error) if isinstance(error, str) and error.isidentifier() else None


def _retry_after(response: requests.Response) -> float | None:
    """Seconds a 429 asks to wait (body `retry_after`, else the header)."""
    try:
        body = response.json()
        value = body.get("retry_after") if isinstance(body, dict) else None
        if isinstance(value, int | float):
            return float(value)
    except ValueError:
        pass
    header = response.headers.get("Retry-After")
    try:
        return float(header) if header else None
    except ValueError:
        return None


# Streams and the connection check -------------------------------------------------------


def offered_streams(
    classes: Iterable[type], authenticator: requests.auth.AuthBase, logger: logging.Logger
) -> list[type]:
    """The OAuth2 streams the token's scopes allow (so no stream meets a certain 401).

    A class lists what it needs in `oauth_scopes`; scopes that cannot be learned leave
    every stream offered (a 401 then names the missing scope).
    """
    classes = list(classes)
    scopes_of = getattr(authenticator, "granted_scopes", None)
    scopes = scopes_of() if callable(scopes_of) else None
    if scopes is None:
        logger.warning(
            "Could not learn the OAuth2 token's scopes; offering every user stream "
            "(set oauth_scopes to offer only what the authorization allows)."
        )
        return classes
    offered = []
    for cls in classes:
        needed = set(getattr(cls, "oauth_scopes", ()))
        missing = sorted(needed - scopes)
        if missing:
            logger.info(
                "Stream %s is not offered: the OAuth2 authorization lacks the scope %s "
                "(re-authorize with it to read this stream).",
                getattr(cls, "name", cls.__name__),
                ", ".join(missing),
            )
        else:
            offered.append(cls)
    return offered


def connection_report(tap: TapDiscord) -> list[str]:
    """Who the credentials are, their scopes or intents: lines without any secret.

    Calls `/users/@me`, and `/oauth2/@me` for a Bearer token or `/applications/@me`
    (its `flags` tell which privileged intents are on) for a bot.
    """
    authenticator = tap.authenticator
    if isinstance(authenticator, DiscordOAuth2):
        return _oauth_report(tap, authenticator)
    return _bot_report(tap)


def _oauth_report(tap: TapDiscord, auth: DiscordOAuth2) -> list[str]:
    kind = "refresh token" if auth.grant == "refresh_token" else "client_credentials grant"
    lines = [f"Credentials: OAuth2 Bearer token ({kind}) for client_id {auth.client_id}"]
    info = auth.authorization_info()
    app = info.get("application") or {}
    scopes = sorted(str(s) for s in info.get("scopes") or [])
    if "identify" in scopes:
        user = auth.get_json("/users/@me")
        lines.append(f"Authenticated as {_describe_user(user)}")
    else:
        lines.append("Authenticated as an unknown user (the authorization lacks `identify`)")
    lines.append(
        f"Application: {app.get('name', '?')} (id {app.get('id', '?')}); scopes: "
        f"{' '.join(scopes) or 'none'}"
    )
    expires_at = auth.expires_at
    if expires_at is not None:
        when = datetime.fromtimestamp(expires_at, tz=timezone.utc).isoformat(timespec="seconds")
        lines.append(f"Access token expires at {when}; rotated tokens kept in {auth.store.path}")
    else:
        lines.append(f"Rotated tokens kept in {auth.store.path}")
    lines.append("Streams offered: " + (", ".join(sorted(tap.streams)) or "none"))
    return lines


def _bot_report(tap: TapDiscord) -> list[str]:
    session = requests.Session()
    session.headers["User-Agent"] = tap.user_agent
    tap.mount_rate_limiter(session)
    timeout = float(tap.config.get("request_timeout") or 30)

    def get(path: str) -> dict[str, t.Any]:
        try:
            response = session.get(f"{tap.api_url}{path}", auth=tap.authenticator, timeout=timeout)
        except requests.RequestException:
            raise RequestFailedError(
                f"GET {path} failed: cannot reach Discord at {tap.api_url}"
            ) from None
        if response.status_code == 401:
            raise AuthenticationError(tap.unauthorized_message(path))
        if response.status_code >= 400:
            raise RequestFailedError(f"GET {path} answered {response.status_code}")
        body = response.json()
        return body if isinstance(body, dict) else {}

    user = get("/users/@me")
    app = get("/applications/@me")
    flags = int(app.get("flags") or 0)
    intents = []
    for name, enabled, limited in PRIVILEGED_INTENTS:
        if flags & enabled:
            state = "on"
        elif flags & limited:
            state = "on (limited)"
        else:
            state = "off"
        intents.append(f"{name}: {state}")
    lines = [
        "Credentials: bot token",
        f"Authenticated as {_describe_user(user)}",
        f"Application: {app.get('name', '?')} (id {app.get('id', '?')})",
        "Privileged intents: " + "; ".join(intents),
    ]
    if not flags & ((1 << 18) | (1 << 19)):
        lines.append("Without Message Content, message text, embeds and attachments are empty.")
    if not flags & ((1 << 14) | (1 << 15)):
        lines.append("Without Server Members, the members stream is skipped.")
    return lines


def _describe_user(user: t.Any) -> str:
    """`bot Name (id 1)` / `user name (id 1)` from a user object."""
    if not isinstance(user, dict):
        return "an unknown account"
    kind = "bot" if user.get("bot") else "user"
    name = user.get("global_name") or user.get("username") or "?"
    handle = user.get("username")
    shown = f"{name} (@{handle})" if handle and handle != name else str(name)
    return f"{kind} {shown}, id {user.get('id', '?')}"
