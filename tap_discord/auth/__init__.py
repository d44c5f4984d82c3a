"""Authentication: which credentials the settings describe, and the authenticator for them.

Two modes, chosen by which settings are present (never both, never neither):

* **bot**: `bot_token`, sent as `Authorization: Bot <token>`; every route works.
* **oauth**: `client_id` + `client_secret` with a `refresh_token` (a user's
  authorization) or without one (the `client_credentials` grant, a token for the app's
  owner); sent as `Authorization: Bearer <access token>`. Only the `/users/@me...`
  routes accept it, so only the user-scope streams are offered.

Where things live:

* `settings.py`: the auth settings (`AUTH_PROPERTIES`), which mode they select, and
  the one-line problems with them.
* `bot.py`: the bot-token authenticator.
* `oauth.py`: the OAuth2 authenticator: expiry, refresh, refresh-token rotation, 401s.
* `token_endpoint.py`: the wire format of `POST /oauth2/token` (success body, error
  code, retry waits).
* `tokenstore.py`: the file that keeps rotated tokens between runs.
* `scopes.py`: which scope a route needs, the streams a token may read, the 401 message.
* `report.py`: the `--test=auth` connection report.

This module builds the authenticator for a config and re-exports what the rest of the
tap uses, so callers import from `tap_discord.auth` only.
"""

from __future__ import annotations

import logging
import typing as t

import requests

from tap_discord.auth.bot import BotAuthenticator
from tap_discord.auth.oauth import DiscordOAuth2
from tap_discord.auth.report import connection_report
from tap_discord.auth.scopes import offered_streams, route_scope, unauthorized_message
from tap_discord.auth.settings import (
    AUTH_PROPERTIES,
    AuthMode,
    auth_mode,
    check_auth_settings,
    request_timeout,
    setting,
)
from tap_discord.auth.tokenstore import TokenStore, default_store_path

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "AUTH_PROPERTIES",
    "AuthMode",
    "BotAuthenticator",
    "DiscordOAuth2",
    "auth_mode",
    "build_authenticator",
    "check_auth_settings",
    "connection_report",
    "offered_streams",
    "route_scope",
    "unauthorized_message",
]


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
        return BotAuthenticator(setting(config, "bot_token"))
    client_id = setting(config, "client_id")
    session = requests.Session()
    if user_agent:
        session.headers["User-Agent"] = user_agent
    if prepare_session is not None:
        prepare_session(session)
    store_path = setting(config, "token_store_path") or default_store_path(client_id)
    return DiscordOAuth2(
        client_id=client_id,
        client_secret=setting(config, "client_secret"),
        refresh_token=setting(config, "refresh_token") or None,
        access_token=setting(config, "access_token") or None,
        scopes=setting(config, "oauth_scopes") or None,
        api_url=api_url,
        store=TokenStore(store_path, client_id),
        session=session,
        timeout=request_timeout(config),
        max_retries=int(config.get("max_retries", 8)),
        logger=logger,
    )
