"""Reading Discord response bodies once, and safely.

A 200 can still carry a truncated body or an HTML page from a proxy; such a page must
be retried, not parsed into nothing. The parsed body is cached on the response object
so paginators and `parse_response` share one parse; NUL characters are replaced in it
(see `nulchars.py`).
"""

from __future__ import annotations

import typing as t

import requests

from tap_discord.nulchars import may_hold_nul, replace_nul

_CACHE_ATTR = "_tap_discord_json"


class MalformedResponseError(requests.exceptions.RequestException):
    """A 2xx response whose body is not the JSON Discord promised (retried)."""


def response_json(response: requests.Response) -> t.Any:
    """Return the parsed JSON body (NUL replaced), parsing it at most once per response."""
    cached = getattr(response, _CACHE_ATTR, _CACHE_ATTR)
    if cached is not _CACHE_ATTR:
        return cached
    try:
        body = response.json()
    except ValueError as exc:
        kind = response.headers.get("Content-Type", "unknown content type")
        msg = f"body is not valid JSON ({kind}, {len(response.content)} bytes)"
        raise MalformedResponseError(msg, response=response) from exc
    if may_hold_nul(response.content):
        body = replace_nul(body)
    setattr(response, _CACHE_ATTR, body)
    return body


def error_code(response: requests.Response) -> tuple[int | None, str]:
    """Return Discord's JSON error `code` and `message`, tolerating non-JSON bodies."""
    try:
        body = response.json()
    except ValueError:
        return None, response.reason or ""
    if not isinstance(body, dict):
        return None, response.reason or ""
    code = body.get("code")
    message = body.get("message") or body.get("error_description") or body.get("error") or ""
    return (code if isinstance(code, int) else None), str(message)
