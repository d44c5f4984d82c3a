"""Guild members, paged by user id."""

from __future__ import annotations

import typing as t

from typing_extensions import override

from tap_discord import schemas
from tap_discord.pagination import SnowflakeAfterPaginator
from tap_discord.streams.guilds import GuildChildStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context, Record

MEMBER_PAGE_SIZE = 1000


class MembersStream(GuildChildStream):
    """`GET /guilds/{id}/members?limit=1000&after=<last user id>` (Discord's default is 1)."""

    name = "members"
    path = "/guilds/{guild_id}/members"
    primary_keys = schemas.MEMBERS_KEYS
    schema = schemas.MEMBERS_SCHEMA
    mirrors_deletions = True
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = {
        50001: "Missing Access (50001): the Server Members privileged intent is off; "
        "enable it in the Developer Portal (Bot → Privileged Gateway Intents)",
    }

    @override
    def get_new_paginator(self) -> SnowflakeAfterPaginator:
        """Ascending by user id; a page shorter than 1000 is the last."""
        return SnowflakeAfterPaginator(None, page_size=MEMBER_PAGE_SIZE, id_of=_user_id)

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        """Always ask for full pages."""
        return {"limit": MEMBER_PAGE_SIZE, "after": next_page_token or 0}

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        """Key members by (guild_id, user_id)."""
        row = super().post_process(row, context) or row
        row["user_id"] = _user_id(row)
        return row


def _user_id(member: dict) -> str:
    """The member's user id (always present on REST member lists)."""
    return str(member["user"]["id"])
