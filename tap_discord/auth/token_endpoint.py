"""The wire format of Discord's token endpoint, `POST /oauth2/token`.

What a success body holds, which RFC 6749 error code a refusal carries, how long a 429
asks to wait and how long to back off otherwise. Kept out of `oauth.py` so that the
authenticator reads as the token's life cycle. No helper here returns a response body
or an error description: they may hold a token or echo a secret.
"""

from __future__ import annotations

import random
import typing as t

if t.TYPE_CHECKING:
    import requests


class TokenResponse(t.NamedTuple):
    """The fields of a token-endpoint success that the tap keeps."""

    access_token: str
    refresh_token: str | None
    scope: str | None
    expires_in: float | None


class TransientError(Exception):
    """A request that failed on the way (a token request is retried); no request detail."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: up to 0.5 s, 1 s, 2 s ... 30 s."""
    return random.uniform(0, min(30.0, 0.5 * 2 ** (attempt - 1)))  # noqa: S311


def parse_token_response(response: requests.Response) -> TokenResponse:
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


def oauth_error(response: requests.Response) -> str | None:
    """The RFC 6749 `error` code of a refusal (never its description or the body)."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return str(error) if isinstance(error, str) and error.isidentifier() else None


def retry_after(response: requests.Response) -> float | None:
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
