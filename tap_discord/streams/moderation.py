"""Who is banned, which AutoMod rules guard the guild, and what posts into it.

Each list is one request per guild (bans: one per 1,000) and needs a moderation
permission; without it the guild's list is skipped with one warning naming it
(`DiscordStream.get_records`), and the refusal counts towards the invalid-request
guard like any other 403.
"""

from __future__ import annotations

import typing as t

from typing_extensions import override

from tap_discord import schemas
from tap_discord.pagination import SnowflakeAfterPaginator
from tap_discord.permissions import needs_permission
from tap_discord.responses import response_json
from tap_discord.streams.audit_log import WEBHOOK_SECRETS
from tap_discord.streams.guilds import GuildChildStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context, Record

BAN_PAGE_SIZE = 1000


class BansStream(GuildChildStream):
    """`GET /guilds/{id}/bans?limit=1000&after=<last user id>`: ascending by user id."""

    name = "bans"
    mirrors_deletions = True
    path = "/guilds/{guild_id}/bans"
    primary_keys = schemas.BANS_KEYS
    schema = schemas.BANS_SCHEMA
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = needs_permission(
        "Ban Members", "listing bans"
    )

    @override
    def get_new_paginator(self) -> SnowflakeAfterPaginator:
        """A page shorter than 1000 is the last."""
        return SnowflakeAfterPaginator(None, page_size=BAN_PAGE_SIZE, id_of=_user_id)

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        """Full pages, forward from the lowest user id."""
        return {"limit": BAN_PAGE_SIZE, "after": next_page_token or 0}

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        """Key bans by (guild_id, user_id)."""
        row = super().post_process(row, context) or row
        row["user_id"] = _user_id(row)
        return row


class AutoModRulesStream(GuildChildStream):
    """`GET /guilds/{id}/auto-moderation/rules` (at most about ten rules, no paging)."""

    name = "automod_rules"
    mirrors_deletions = True
    path = "/guilds/{guild_id}/auto-moderation/rules"
    primary_keys = schemas.AUTOMOD_RULES_KEYS
    schema = schemas.AUTOMOD_RULES_SCHEMA
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = needs_permission(
        "Manage Server", "reading AutoMod rules"
    )


class WebhooksStream(GuildChildStream):
    """`GET /guilds/{id}/webhooks`, without each webhook's `token` and `url`."""

    name = "webhooks"
    mirrors_deletions = True
    path = "/guilds/{guild_id}/webhooks"
    primary_keys = schemas.WEBHOOKS_KEYS
    schema = schemas.WEBHOOKS_SCHEMA
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = needs_permission(
        "Manage Webhooks", "listing webhooks"
    )

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The webhooks, their credentials dropped before any check or log sees a record.

        A token (also inside `url`) lets anyone post as the webhook, edit or delete it.
        """
        body = response_json(response)
        hooks = body if isinstance(body, list) else [body]
        yield from self.checked((without_secrets(hook) for hook in hooks), response)


def without_secrets(hook: t.Any) -> t.Any:
    """A webhook without the fields that are credentials (anything else as it is)."""
    if not isinstance(hook, dict):
        return hook
    return {key: value for key, value in hook.items() if key not in WEBHOOK_SECRETS}


class IntegrationsStream(GuildChildStream):
    """`GET /guilds/{id}/integrations`: Discord returns at most 50 and no way to page."""

    name = "integrations"
    mirrors_deletions = True
    path = "/guilds/{guild_id}/integrations"
    primary_keys = schemas.INTEGRATIONS_KEYS
    schema = schemas.INTEGRATIONS_SCHEMA
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = needs_permission(
        "Manage Server", "listing integrations"
    )


def _user_id(ban: dict) -> str:
    """The banned user's id."""
    return str(ban["user"]["id"])
