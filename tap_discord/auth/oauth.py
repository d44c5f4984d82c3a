"""The OAuth2 authenticator: Bearer tokens, refreshed in time, rotated safely.

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
import threading
import time
import typing as t

import requests
from typing_extensions import override

from tap_discord.auth.scopes import unauthorized_message
from tap_discord.auth.settings import DEFAULT_CLIENT_CREDENTIALS_SCOPES
from tap_discord.auth.token_endpoint import (
    TokenResponse,
    TransientError,
    backoff,
    oauth_error,
    parse_token_response,
    retry_after,
)
from tap_discord.auth.tokenstore import MAX_LINEAGE, Grant, StoredToken, TokenStore, fingerprint
from tap_discord.errors import AuthenticationError, ConfigError, RequestFailedError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: Refresh this long before expiry at most (clock skew, slow requests) ...
EXPIRY_MARGIN_MAX_SECONDS = 300.0
#: ... and at least this share of the token's lifetime before it (short test lifetimes).
EXPIRY_MARGIN_FRACTION = 0.1


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

    @override
    def __repr__(self) -> str:
        """Client id and store only; never a secret."""
        return (
            f"DiscordOAuth2(client_id={self.client_id!r}, grant={self.grant!r}, "
            f"store={self.store!r})"
        )

    # requests hook ---------------------------------------------------------------------

    @override
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
            except TransientError as exc:
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
            self.store.check_writable()
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
                self._sleep(backoff(attempt) if wait_hint is None else wait_hint)
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
            except TransientError as exc:
                in_transit_failure = True
                last = exc.description.removeprefix("POST /oauth2/token ")
                continue
            status = response.status_code
            if status == 200:
                try:
                    return parse_token_response(response)
                except ValueError as exc:
                    in_transit_failure = True
                    last = f"200 with an unusable body ({exc})"
                    continue
            if status == 429 or status >= 500:
                in_transit_failure = in_transit_failure or status >= 500
                last = f"{status} {response.reason or ''}".strip()
                wait_hint = retry_after(response) if status == 429 else None
                continue
            raise self._token_error(status, oauth_error(response), form, in_transit_failure)
        raise RequestFailedError(
            f"POST /oauth2/token still failed after {tries} tries (last: {last}); Discord "
            f"may be having trouble (or api_url {self.api_url} is wrong), rerun later"
        )

    def _send(self, method: str, url: str, *, what: str, **kwargs: t.Any) -> requests.Response:
        """One request; network failures become a secret-free `TransientError`."""
        try:
            return self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise TransientError(f"{what} timed out") from None
        except (requests.ConnectionError, ConnectionResetError):
            raise TransientError(f"{what} failed to connect") from None

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
