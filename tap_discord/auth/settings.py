"""The authentication settings: their schema, the mode they select, and their problems.

Kept apart from the authenticators: validating a config and choosing the streams of a
mode need only the settings, never a token or a request.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

if t.TYPE_CHECKING:
    from collections.abc import Mapping

AuthMode = t.Literal["bot", "oauth"]

#: Settings whose presence selects the OAuth2 mode.
OAUTH_SETTINGS = ("client_id", "client_secret", "refresh_token", "access_token")
#: Scopes asked for with the client_credentials grant when `oauth_scopes` is empty.
DEFAULT_CLIENT_CREDENTIALS_SCOPES = "identify"

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


def setting(config: Mapping[str, t.Any], key: str) -> str:
    """A string setting, stripped; empty when unset (or, for a secret, not a string)."""
    value = config.get(key)
    if value is None or isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return str(value).strip()


def auth_mode(config: Mapping[str, t.Any]) -> AuthMode:
    """The mode the settings select: bot unless only OAuth2 settings are given."""
    if setting(config, "bot_token"):
        return "bot"
    if any(setting(config, key) for key in OAUTH_SETTINGS):
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
    oauth_given = [key for key in OAUTH_SETTINGS if setting(config, key)]
    if setting(config, "bot_token"):
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
    path = setting(config, "token_store_path")
    if "token_store_path" in config and not path:
        errors.append("token_store_path is empty: remove it for the default, or name a file")
    return errors


def request_timeout(config: Mapping[str, t.Any]) -> float:
    """Seconds before the tap's own auth requests give up (setting `request_timeout`)."""
    return float(config.get("request_timeout") or 30)
