"""What an OAuth2 token may read: route scopes, the streams offered, the 401 message.

A Bearer token only works on `/users/@me...` routes, each needing a scope. Knowing
which lets the tap offer only the streams a token can read, and say which scope (or
which credential) to fix when Discord answers 401.
"""

from __future__ import annotations

import typing as t

from tap_discord.auth.settings import auth_mode

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterable, Mapping

    import requests

#: Which scope each user-scope route needs, for the 401 message (longest prefix first).
ROUTE_SCOPES: tuple[tuple[str, str], ...] = (
    ("/users/@me/guilds/", "guilds.members.read"),
    ("/users/@me/guilds", "guilds"),
    ("/users/@me/connections", "connections"),
    ("/oauth2/@me", "any"),
    ("/users/@me", "identify"),
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
