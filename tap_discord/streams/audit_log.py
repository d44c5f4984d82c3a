"""The guild audit log, incremental by entry id, and the objects its entries name.

`GET /guilds/{id}/audit-logs?after=<last entry id>&limit=100` answers entries in
ASCENDING id order when `after` is given (messages are the opposite;
https://discord.com/developers/docs/resources/audit-log#get-guild-audit-log), so
each page's last entry is the next cursor and the guild partition's bookmark is simply
the last entry emitted. Discord keeps entries for 45 days only.

A page's body also carries the users, webhooks, integrations and threads its entries
name. Four small streams (`audit_log_users`, `audit_log_webhooks`,
`audit_log_integrations`, `audit_log_threads`) emit them from the same pages: no extra
request. They are synced before `audit_log` in each guild: the first of them reads the
guild's new pages, keeping the entries for `audit_log`, so an entry's bookmark is only
saved after the objects it names were emitted (a run killed in between re-reads them).
Each holds only the objects named by the entries read in this run (upserted by id),
not a full list.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_discord import schemas
from tap_discord.errors import ResourceSkippedError
from tap_discord.pagination import SnowflakeAfterPaginator
from tap_discord.responses import response_json
from tap_discord.snowflake import by_id, is_snowflake
from tap_discord.streams.guilds import GuildChildStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context, Record

AUDIT_PAGE_SIZE = 100
#: Webhook fields that are credentials (they execute the webhook): never emitted.
WEBHOOK_SECRETS = ("token", "url")
VIEW_AUDIT_LOG_REASON = (
    "reading the audit log needs the View Audit Log permission (grant it to the bot's "
    "role in Server Settings → Roles)"
)


@dataclass
class GuildReferences:
    """Objects named by the audit-log entries of one guild read in this run, by kind."""

    kinds: tuple[str, ...] = ()  # the kinds a selected stream will take; others are dropped
    objects: dict[str, dict[str, dict[str, t.Any]]] = field(default_factory=dict)

    def add(self, body: dict[str, t.Any]) -> None:
        """Keep a page's referenced objects (the last copy of an id wins)."""
        for kind in self.kinds:
            found = self.objects.setdefault(kind, {})
            for obj in body.get(kind) or []:
                if isinstance(obj, dict) and "id" in obj:
                    found[str(obj["id"])] = obj

    def take(self, kind: str) -> list[dict[str, t.Any]]:
        """The objects of one kind, by id, handed over once (memory is freed)."""
        return sorted(self.objects.pop(kind, {}).values(), key=by_id)


class AuditLogStream(GuildChildStream):
    """`GET /guilds/{id}/audit-logs?after=<bookmark>&limit=100`, oldest entry first."""

    name = "audit_log"
    path = "/guilds/{guild_id}/audit-logs"
    primary_keys = schemas.AUDIT_LOG_KEYS
    replication_key = "id"
    # Entries come ascending and each page is sorted by integer id, so the bookmark is
    # the last entry emitted; the SDK's own check would compare ids as strings.
    is_sorted = True
    check_sorted = False
    schema = schemas.AUDIT_LOG_SCHEMA
    # `old_value`/`new_value` hold any JSON value (typeless in the schema), which the
    # SDK's recursive conformance cannot walk; entries already match the schema as sent.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = {
        50013: f"Missing Permissions (50013): {VIEW_AUDIT_LOG_REASON}",
        50001: f"Missing Access (50001): {VIEW_AUDIT_LOG_REASON}",
    }

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Start with no guild read: references are collected per guild as pages arrive."""
        super().__init__(*args, **kwargs)
        self._references: dict[str, GuildReferences] = {}
        self._read_ahead: dict[str, list[dict[str, t.Any]]] = {}
        self._collecting: GuildReferences | None = None

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """The guild's entries after its bookmark; skip the guild (one warning) on 403.

        Entries a reference stream already read for this guild are emitted from memory.
        """
        guild_id = str((context or {})["guild_id"])
        if guild_id in self._read_ahead:
            yield from self._read_ahead.pop(guild_id)
            return
        yield from self._read(guild_id, self.start_cursor(context))

    def references(self, guild_id: str) -> GuildReferences:
        """What the guild's new entries name, reading them first if not yet done.

        The reference streams run before `audit_log`: the first one reads the pages and
        keeps the entries for `audit_log` (if selected; its bookmark moves only when it
        emits them).
        """
        if guild_id not in self._references:
            entries = self._read(guild_id, self.start_cursor({"guild_id": guild_id}))
            if self.selected:
                self._read_ahead[guild_id] = list(entries)
            else:
                for _ in entries:
                    pass
        return self._references[guild_id]

    def _read(self, guild_id: str, after: int) -> Iterable[dict[str, t.Any]]:
        """Page through the entries after `after`, collecting the objects they name."""
        self._collecting = self._references[guild_id] = GuildReferences(self._wanted_kinds())
        context = {"guild_id": guild_id, "after": after}
        try:
            yield from self.request_records(context)
        except ResourceSkippedError as exc:
            self.warn_skipped(exc, {"guild_id": guild_id})
        finally:
            self._collecting = None

    def _wanted_kinds(self) -> tuple[str, ...]:
        """The kinds of referenced objects a selected stream will take (others: not kept)."""
        streams = self.discord_tap.streams
        return tuple(
            kind
            for kind in REFERENCE_KINDS
            if (stream := streams.get(f"audit_log_{kind}")) is not None and stream.selected
        )

    def start_cursor(self, context: Context | None) -> int:
        """After the guild's bookmark (an entry id); a first sync starts at `start_date`."""
        bookmark = self.get_context_state(context).get("replication_key_value")
        if bookmark is not None and is_snowflake(bookmark):
            return int(bookmark)
        return self.discord_tap.settings.start_after

    @override
    def get_new_paginator(self) -> SnowflakeAfterPaginator:
        """Forward by entry id; a page shorter than 100 is the last."""
        return SnowflakeAfterPaginator(
            None, page_size=AUDIT_PAGE_SIZE, id_of=_entry_id, items_of=_page_entries
        )

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        """`after` the bookmark (or the previous page's last entry), 100 per page."""
        after = next_page_token if next_page_token is not None else (context or {})["after"]
        return {"after": after, "limit": AUDIT_PAGE_SIZE}

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The page's entries, ascending by integer id; keep the objects they name."""
        body = response_json(response)
        if not isinstance(body, dict):
            return []
        if self._collecting is not None:
            self._collecting.add(body)
        return self.checked(sorted(_entries(body), key=by_id), response)


class AuditLogReferenceStream(GuildChildStream):
    """Objects of one kind named by the guild's audit-log entries read in this run.

    Full table, keyed by id: each run upserts what its entries name. No state.
    """

    #: Key of the audit-log body holding these objects.
    kind: t.ClassVar[str]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """One small list per guild, nothing to resume: no per-guild state entries."""
        super().__init__(*args, **kwargs)
        self.state_partitioning_keys = []

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """What `audit_log` collected for the guild (read on demand if it did not run)."""
        guild_id = str((context or {})["guild_id"])
        references = self.discord_tap.shared_lists.audit_log_references(guild_id)
        check, where = self.record_check.check, f"/guilds/{guild_id}/audit-logs"
        for item in references.take(self.kind):
            yield check(item, where)


class AuditLogUsersStream(AuditLogReferenceStream):
    """Users named by audit-log entries (actors and targets); global, so emitted once."""

    name = "audit_log_users"
    kind = "users"
    primary_keys = schemas.AUDIT_LOG_USERS_KEYS
    schema = schemas.AUDIT_LOG_USERS_SCHEMA

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Remember which users this run emitted: one user may act in several guilds."""
        super().__init__(*args, **kwargs)
        self._emitted: set[str] = set()

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        """Each user once per run, with the documented user fields only, and no `guild_id`.

        Discord also sends undocumented user fields (`banner_color`, `clan`,
        `display_name_styles`...); as top-level keys they would have no column.
        """
        user_id = str(row["id"])
        if user_id in self._emitted:
            return None
        self._emitted.add(user_id)
        declared = self.schema["properties"]
        return {key: value for key, value in row.items() if key in declared}


class AuditLogWebhooksStream(AuditLogReferenceStream):
    """Webhooks named by audit-log entries, without their token and URL (credentials)."""

    name = "audit_log_webhooks"
    kind = "webhooks"
    primary_keys = schemas.AUDIT_LOG_WEBHOOKS_KEYS
    schema = schemas.AUDIT_LOG_WEBHOOKS_SCHEMA

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        """Drop the webhook's secrets, which would let anyone post as it."""
        for secret in WEBHOOK_SECRETS:
            row.pop(secret, None)
        return super().post_process(row, context)


class AuditLogIntegrationsStream(AuditLogReferenceStream):
    """Partial integrations (bots, Twitch, YouTube...) named by audit-log entries."""

    name = "audit_log_integrations"
    kind = "integrations"
    primary_keys = schemas.AUDIT_LOG_INTEGRATIONS_KEYS
    schema = schemas.AUDIT_LOG_INTEGRATIONS_SCHEMA


class AuditLogThreadsStream(AuditLogReferenceStream):
    """Threads named by audit-log entries, including deleted ones no list shows."""

    name = "audit_log_threads"
    kind = "threads"
    primary_keys = schemas.AUDIT_LOG_THREADS_KEYS
    schema = schemas.AUDIT_LOG_THREADS_SCHEMA


#: Body keys whose objects the reference streams emit.
REFERENCE_KINDS = ("users", "webhooks", "integrations", "threads")


def _entries(body: t.Any) -> list[dict[str, t.Any]]:
    """The entries of an audit-log page body (`{audit_log_entries, users, ...}`)."""
    return list(body.get("audit_log_entries") or []) if isinstance(body, dict) else []


def _page_entries(response: requests.Response) -> list[dict[str, t.Any]]:
    """The entries of an audit-log page."""
    return _entries(response_json(response))


def _entry_id(entry: dict) -> str:
    """An audit-log entry's id."""
    return str(entry["id"])
