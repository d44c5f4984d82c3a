"""Guild-level streams: the guild itself and the lists hanging off it."""

from __future__ import annotations

import typing as t

from singer_sdk.exceptions import RetriableAPIError
from typing_extensions import override

from tap_discord import schemas
from tap_discord.client import DiscordStream
from tap_discord.errors import ConfigError, ResourceSkippedError

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context, Record

UNKNOWN_GUILD = 10004


class GuildsStream(DiscordStream):
    """`GET /guilds/{id}?with_counts=true` for each guild; parent of every guild stream."""

    name = "guilds"
    path = "/guilds/{guild_id}"
    primary_keys = schemas.GUILDS_KEYS
    schema = schemas.GUILDS_SCHEMA
    mirrors_deletions = True
    records_jsonpath = "$"

    @property
    @override
    def partitions(self) -> list[dict[str, str]]:
        """One partition per guild: `guild_ids`, or every guild the bot is in."""
        ids = self.discord_tap.shared_lists.guild_ids()
        if not ids:
            self.logger.warning("The bot is in no guild: invite it to a server first.")
        return [{"guild_id": guild_id} for guild_id in ids]

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict:
        """Ask for the approximate member and presence counts too."""
        return {"with_counts": "true"}

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """A configured guild the bot cannot read is a configuration error, not a skip.

        A guild found through `/users/@me/guilds` that is gone when read (the bot was
        removed meanwhile) is skipped with one warning.
        """
        guild_id = (context or {}).get("guild_id")
        try:
            yield from self.request_records(context)
        except ResourceSkippedError as exc:
            if not self.discord_tap.settings.configured_guild_ids:
                self.warn_skipped(exc, context)
                return
            raise ConfigError(
                f"guild_ids: cannot read guild {guild_id} ({exc.reason}); invite the bot "
                "to that server or remove the id from guild_ids"
            ) from None

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Check an Unknown Guild answer against the guild's channels before believing it.

        Discord sometimes answers `GET /guilds/{id}` with 404 10004 for a guild the bot
        is in while its other routes work
        (https://github.com/discord/discord-api-docs/issues/8445). That is a transient
        fault to retry, not "the bot was removed", which would stop the run.
        """
        try:
            super().validate_response(response)
        except ResourceSkippedError as exc:
            guild_id = exc.resource.rstrip("/").rsplit("/", 1)[-1]
            readable = self.discord_tap.shared_lists.channels_readable
            if exc.code == UNKNOWN_GUILD and readable(guild_id):
                raise RetriableAPIError(
                    f"Unknown Guild for guild {guild_id} although the bot can read its "
                    "channels (a known Discord API fault, discord-api-docs #8445)",
                    response,
                ) from None
            raise

    @override
    def get_child_context(self, record: Record, context: Context | None) -> dict[str, str]:
        """Children are read per guild."""
        return {"guild_id": str(record["id"])}


class GuildChildStream(DiscordStream):
    """A list read once per guild; each record gains the `guild_id` it belongs to."""

    parent_stream_type = GuildsStream

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        """Tag the row with its guild, which Discord omits from most list items."""
        if context and "guild_id" not in row:
            row["guild_id"] = context["guild_id"]
        return row


class InvitesStream(GuildChildStream):
    """`GET /guilds/{id}/invites`: active invites with their usage metadata."""

    name = "invites"
    path = "/guilds/{guild_id}/invites"
    primary_keys = schemas.INVITES_KEYS
    schema = schemas.INVITES_SCHEMA
    mirrors_deletions = True
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = {
        50013: "Missing Permissions (50013): listing invites needs the Manage Server "
        "(or View Audit Log) permission",
        50001: "Missing Access (50001): listing invites needs the Manage Server "
        "(or View Audit Log) permission",
    }
