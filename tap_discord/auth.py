"""Authentication: which credentials the settings describe, and the authenticator for them.

Bot tokens are sent as `Authorization: Bot <token>`. (OAuth2 Bearer tokens, with
refresh-token rotation, are added by the OAuth2 work.)
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th
from singer_sdk.authenticators import APIKeyAuthenticator

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    import requests

AuthMode = t.Literal["bot", "oauth"]

#: Settings of the authentication modes, merged into the tap's config schema.
AUTH_PROPERTIES: list[th.Property] = [
    th.Property(
        "bot_token",
        th.StringType(min_length=1),
        secret=True,
        description="Bot token from the Discord Developer Portal (Bot → Token), "
        "without the `Bot ` prefix.",
    ),
]


def auth_mode(config: Mapping[str, t.Any]) -> AuthMode:
    """The mode the settings select (bot unless OAuth2 settings are given)."""
    return "bot"


def check_auth_settings(config: Mapping[str, t.Any]) -> list[str]:
    """One line per problem with the credentials settings, never echoing a secret."""
    if not str(config.get("bot_token") or "").strip():
        return [
            "bot_token is missing or empty: set it to the bot token from the Discord "
            "Developer Portal (Bot → Reset Token), e.g. TAP_DISCORD_BOT_TOKEN"
        ]
    return []


def build_authenticator(config: Mapping[str, t.Any]) -> requests.auth.AuthBase:
    """The authenticator for the configured mode."""
    token = str(config.get("bot_token") or "").strip().removeprefix("Bot ").strip()
    return APIKeyAuthenticator(key="Authorization", value=f"Bot {token}", location="header")


def unauthorized_message(config: Mapping[str, t.Any], path: str) -> str:
    """The one line for a 401: which credential to fix, never its value."""
    return (
        f"Discord rejected the bot token (401 Unauthorized on {path}): check bot_token "
        "(Developer Portal → Bot → Reset Token) and that it is a bot token"
    )
