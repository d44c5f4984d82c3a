"""The `--test=auth` report: who the credentials are, and what they may read.

Lines without any secret, for a user checking a new config before a sync.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timezone

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_discord.auth.oauth import DiscordOAuth2
from tap_discord.errors import RequestFailedError, ResourceSkippedError
from tap_discord.intents import GUILD_MEMBERS_FLAGS, MESSAGE_CONTENT_FLAGS, PRIVILEGED_INTENTS

if t.TYPE_CHECKING:
    from tap_discord.client import DiscordStream
    from tap_discord.tap import TapDiscord


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
    lines.append(f"Application: {_describe_app(app)}; scopes: {' '.join(scopes) or 'none'}")
    expires_at = auth.expires_at
    if expires_at is not None:
        when = datetime.fromtimestamp(expires_at, tz=timezone.utc).isoformat(timespec="seconds")
        lines.append(f"Access token expires at {when}; rotated tokens kept in {auth.store.path}")
    else:
        lines.append(f"Rotated tokens kept in {auth.store.path}")
    lines.append("Streams offered: " + (", ".join(sorted(tap.streams)) or "none"))
    return lines


def _bot_report(tap: TapDiscord) -> list[str]:
    # The guilds stream's request helper: the streams' limiter and checks, one attempt.
    stream = t.cast("DiscordStream", tap.streams["guilds"])
    api_url = tap.settings.api_url

    def get(path: str) -> dict[str, t.Any]:
        try:
            body = stream.get_json(f"{api_url}{path}", retries=False)
        except ResourceSkippedError as exc:
            raise RequestFailedError(f"GET {path}: {exc.reason}") from None
        except RetriableAPIError as exc:
            raise RequestFailedError(f"GET {path}: Discord answered {exc}; try again") from None
        except requests.RequestException as exc:
            raise RequestFailedError(
                f"GET {path} failed: cannot reach Discord at {api_url} ({type(exc).__name__})"
            ) from None
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
        f"Application: {_describe_app(app)}",
        "Privileged intents: " + "; ".join(intents),
    ]
    if not flags & MESSAGE_CONTENT_FLAGS:
        lines.append("Without Message Content, message text, embeds and attachments are empty.")
    if not flags & GUILD_MEMBERS_FLAGS:
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


def _describe_app(app: t.Mapping[str, t.Any]) -> str:
    """`Name (id 1)` from an application object."""
    return f"{app.get('name', '?')} (id {app.get('id', '?')})"
