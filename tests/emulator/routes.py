"""The API routes: what each GET answers, with Discord's paging rules.

Handlers receive a parsed request and return (status, body); the dispatcher in
core.py does authentication, rate limits, faults and recording. Each handler links
its route's page; permission and existence errors follow
docs/discord-behaviour.md#error-bodies.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from tests.emulator.errors import (
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    UNKNOWN_CHANNEL,
    UNKNOWN_EMOJI,
    UNKNOWN_GUILD,
    UNKNOWN_MEMBER,
    UNKNOWN_MESSAGE,
    WRONG_CHANNEL_TYPE,
    ApiError,
    Query,
)
from tests.emulator.messages import dumps, page_ids
from tests.emulator.moderation import GuildRestRoutes
from tests.emulator.snowflakes import iso_from_ms, ms_from_iso
from tests.emulator.social import user_object

if TYPE_CHECKING:
    from tests.emulator.core import Emulator, Principal
    from tests.emulator.messages import MessageLog

Reply = tuple[int, Any]

#: Permission bits shown in `/users/@me/guilds` `permissions`.
VIEW_AUDIT_LOG = 1 << 7
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
MANAGE_THREADS = 1 << 34
BASE_PERMISSIONS = 2248473465835073

MESSAGE_CHANNEL_TYPES = frozenset({0, 2, 5, 13, 10, 11, 12})
THREAD_PARENT_TYPES = frozenset({0, 5, 15, 16})
PARTIAL_GUILD_KEYS = ("id", "name", "icon", "banner", "owner", "permissions", "features")
INVITE_METADATA = ("uses", "max_uses", "max_age", "temporary", "created_at")


@dataclass(frozen=True)
class Route:
    """One API route: template, bucket and who may call it.

    `auth`: "bot" (bot token only), "user:<scope>" (bot, or Bearer with the scope),
    "bearer:<scope>" (Bearer only; scope "any" = any scope).
    """

    name: str
    template: str
    handler: str
    limit: int | None
    window: float = 1.0
    auth: str = "bot"
    method: str = "GET"
    #: False: one bucket for the whole route, not one per channel or guild.
    per_resource: bool = True
    segments: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        """Split the template once, for matching."""
        object.__setattr__(self, "segments", tuple(self.template.strip("/").split("/")))

    @property
    def major_param(self) -> str | None:
        """The top-level resource this route is counted per (https://discord.com/developers/docs/topics/rate-limits)."""
        if not self.per_resource:
            return None
        if self.template.startswith("/channels/"):
            return "channel_id"
        if self.template.startswith("/guilds/"):
            return "guild_id"
        return None


ROUTES = (
    Route("users_me", "/users/@me", "users_me", 50, auth="user:identify"),
    Route("user_guilds", "/users/@me/guilds", "user_guilds", 1, auth="user:guilds"),
    Route(
        "user_guild_member",
        "/users/@me/guilds/{guild_id}/member",
        "user_guild_member",
        5,
        auth="bearer:guilds.members.read",
    ),
    Route(
        "user_connections",
        "/users/@me/connections",
        "user_connections",
        50,
        auth="user:connections",
    ),
    Route("oauth2_me", "/oauth2/@me", "oauth2_me", 50, auth="bearer:any"),
    Route("application", "/applications/@me", "application", 50),
    Route("guild", "/guilds/{guild_id}", "guild_object", 50),
    Route("guild_channels", "/guilds/{guild_id}/channels", "guild_channels", 50),
    Route("active_threads", "/guilds/{guild_id}/threads/active", "active_threads", None),
    Route("members", "/guilds/{guild_id}/members", "members", 10, 10.0),
    Route("member", "/guilds/{guild_id}/members/{user_id}", "member", 5),
    Route("invites", "/guilds/{guild_id}/invites", "guild_invites", 50),
    Route("roles", "/guilds/{guild_id}/roles", "roles", 50),
    Route("emojis", "/guilds/{guild_id}/emojis", "emojis", 50),
    Route("stickers", "/guilds/{guild_id}/stickers", "stickers", None),
    Route("scheduled_events", "/guilds/{guild_id}/scheduled-events", "scheduled_events", 1, 10.0),
    Route("audit_logs", "/guilds/{guild_id}/audit-logs", "audit_logs", 50),
    # The rest of a guild (handlers in moderation.py); limits observed where known.
    Route("bans", "/guilds/{guild_id}/bans", "guild_bans", 50),
    Route("automod_rules", "/guilds/{guild_id}/auto-moderation/rules", "automod_rules", 5, 10.0),
    Route("guild_webhooks", "/guilds/{guild_id}/webhooks", "guild_webhooks", 50),
    Route("integrations", "/guilds/{guild_id}/integrations", "guild_integrations", 50),
    Route("onboarding", "/guilds/{guild_id}/onboarding", "guild_onboarding", 50),
    Route("welcome_screen", "/guilds/{guild_id}/welcome-screen", "welcome_screen", 50),
    Route("soundboard_sounds", "/guilds/{guild_id}/soundboard-sounds", "soundboard_sounds", 50),
    Route(
        "scheduled_event_users",
        "/guilds/{guild_id}/scheduled-events/{event_id}/users",
        "scheduled_event_users",
        5,
        30.0,
    ),
    Route("role_member_counts", "/guilds/{guild_id}/roles/member-counts", "role_member_counts", 50),
    Route("vanity_url", "/guilds/{guild_id}/vanity-url", "vanity_url", None),
    Route("thread_members", "/channels/{channel_id}/thread-members", "thread_members_list", 50),
    Route("channel", "/channels/{channel_id}", "channel_route", 1000),
    Route("messages", "/channels/{channel_id}/messages", "messages", 5, 5.0),
    # Before `message`, whose template the pins path also fits. Pins are limited
    # globally (6 per 5 s), not per channel: docs/discord-behaviour.md#observed-bucket-sizes.
    Route("pins", "/channels/{channel_id}/messages/pins", "pins", 6, 5.0, per_resource=False),
    Route("message", "/channels/{channel_id}/messages/{message_id}", "message", 5, 5.0),
    # Reaction users and poll voters: limits not measured.
    Route(
        "reactions",
        "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}",
        "reaction_users",
        None,
    ),
    Route(
        "poll_voters",
        "/channels/{channel_id}/polls/{message_id}/answers/{answer_id}",
        "poll_voters",
        None,
    ),
    Route("channel_invites", "/channels/{channel_id}/invites", "channel_invites", 50),
    Route("archived", "/channels/{channel_id}/threads/archived/public", "archived_public", None),
    Route("archived", "/channels/{channel_id}/threads/archived/private", "archived_private", None),
    Route(
        "joined_archived",
        "/channels/{channel_id}/users/@me/threads/archived/private",
        "joined_archived",
        None,
    ),
)


def match_route(
    path: str, routes: tuple[Route, ...] = ROUTES
) -> tuple[list[Route], dict[str, str]]:
    """Routes whose template fits `path` (any method), and the path parameters."""
    segments = path.strip("/").split("/")
    found: list[Route] = []
    params: dict[str, str] = {}
    for route in routes:
        if len(route.segments) != len(segments):
            continue
        values = _bind(route.segments, segments)
        if values is not None:
            if not found:  # the first route that fits is the one served
                params = values
            found.append(route)
    return found, params


def _bind(template: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    """Path parameters if the segments fit the template, else None."""
    values = {}
    for want, got in zip(template, segments, strict=True):
        if want.startswith("{"):
            if not got:
                return None
            values[want[1:-1]] = got
        elif want != got:
            return None
    return values


@dataclass
class ApiRequest:
    """What a handler sees."""

    route: Route
    params: dict[str, str]
    query: Query
    principal: Principal


class Api(GuildRestRoutes):
    """The handlers, over the emulator's world and settings."""

    def __init__(self, emulator: Emulator) -> None:
        """Precompute what is static (member keys)."""
        self.emu = emulator
        self.world = emulator.world
        self.settings = emulator.settings
        self.factory = emulator.world.factory
        self.member_keys = {
            gid: [int(m["user"]["id"]) for m in members]
            for gid, members in self.world.members.items()
        }
        self.audit_keys = {
            gid: [int(e["id"]) for e in entries] for gid, entries in self.world.audit_log.items()
        }

    def handler(self, route: Route) -> Callable[[ApiRequest], Reply]:
        """The bound handler method of a route."""
        return getattr(self, route.handler)

    # lookups --------------------------------------------------------------------------

    def guild(self, guild_id: str) -> dict[str, Any]:
        """A guild the bot is in, else 404 Unknown Guild (also for other guilds)."""
        guild = self.world.guild(guild_id)
        if guild is None or guild_id in self.settings.left_guilds:
            raise ApiError(404, UNKNOWN_GUILD)
        return guild

    def channel(self, channel_id: str) -> dict[str, Any]:
        """A channel or thread, else 404 Unknown Channel."""
        channel = self.world.index.get(channel_id)
        if channel is None or channel_id in self.settings.vanished_channels:
            raise ApiError(404, UNKNOWN_CHANNEL)
        return channel

    def can_view(self, channel: dict[str, Any]) -> bool:
        """View Channel on it and its parent; private threads need membership or Manage Threads."""
        unreadable = self.world.unreadable
        if channel["id"] in unreadable or channel.get("parent_id") in unreadable:
            return False
        if channel["type"] == 12 and not self.settings.manage_threads:
            return channel["id"] in self.world.thread_members
        return True

    def has_history(self, channel: dict[str, Any]) -> bool:
        """Read Message History on it (and, for threads, on the parent)."""
        no_history = self.world.no_history
        return channel["id"] not in no_history and channel.get("parent_id") not in no_history

    def visible_channel(self, channel_id: str) -> dict[str, Any]:
        """A channel the bot can view, else 404/403 50001."""
        channel = self.channel(channel_id)
        if not self.can_view(channel):
            raise ApiError(403, MISSING_ACCESS)
        return channel

    # users and application ------------------------------------------------------------

    def users_me(self, req: ApiRequest) -> Reply:
        """The bot user (or the authorizing user, for a Bearer token)."""
        if req.principal.kind == "bearer":
            return 200, self.emu.oauth.user_view(req.principal)
        extra = {"mfa_enabled": False, "locale": "en-US", "premium_type": 0, "verified": True}
        return 200, {**self.world.bot_user, **extra, "email": None, "bio": ""}

    def user_guilds(self, req: ApiRequest) -> Reply:
        """Partial guilds ascending by id, paged with before/after, limit 1-200."""
        q = req.query
        before, after = q.snowflake("before"), q.snowflake("after")
        limit = q.integer("limit", 200, 1, 200)
        with_counts = q.boolean("with_counts")
        q.check()
        guilds = sorted(self.principal_guilds(req.principal), key=lambda g: int(g["id"]))
        ids = [int(g["id"]) for g in guilds]
        if after is not None:
            lo = bisect.bisect_right(ids, after)
            hi = bisect.bisect_left(ids, before) if before is not None else len(ids)
            page = guilds[lo:hi][:limit]
        elif before is not None:
            hi = bisect.bisect_left(ids, before)
            page = guilds[max(0, hi - limit) : hi]
        else:
            page = guilds[:limit]
        return 200, [self.partial_guild(g, with_counts, req.principal) for g in page]

    def principal_guilds(self, principal: Principal) -> list[dict[str, Any]]:
        """Guilds of the bot, or of the OAuth2 user."""
        if principal.kind == "bearer":
            user_id = principal.user["id"]
            return [
                g
                for g in self.world.guilds
                if any(m["user"]["id"] == user_id for m in self.world.members[g["id"]])
            ]
        return list(self.world.guilds)

    def partial_guild(
        self, guild: dict[str, Any], with_counts: bool, principal: Principal
    ) -> dict[str, Any]:
        """The `/users/@me/guilds` shape: id, name, icon, banner, owner, permissions, features."""
        owner = principal.kind == "bearer" and guild["owner_id"] == principal.user["id"]
        out = {
            "id": guild["id"],
            "name": guild["name"],
            "icon": guild["icon"],
            "banner": guild["banner"],
            "owner": owner,
            "permissions": str(self.caller_permissions(guild, principal)),
            "features": guild["features"],
        }
        if with_counts:
            out["approximate_member_count"] = guild["approximate_member_count"]
            out["approximate_presence_count"] = guild["approximate_presence_count"]
        return out

    def caller_permissions(self, guild: dict[str, Any], principal: Principal) -> int:
        """Guild-level permissions of the caller: the bot's, or the OAuth2 user's roles."""
        if principal.kind != "bearer":
            return self.bot_permissions()
        user_id = principal.user["id"]
        if guild["owner_id"] == user_id:
            return (1 << 51) - 1
        roles = {r["id"]: int(r["permissions"]) for r in self.world.roles[guild["id"]]}
        value = roles.get(guild["id"], 0)
        for member in self.world.members[guild["id"]]:
            if member["user"]["id"] == user_id:
                for role_id in member["roles"]:
                    value |= roles.get(role_id, 0)
        return value

    def bot_permissions(self) -> int:
        """The bot's guild-level permissions, as the settings say."""
        s = self.settings
        value = BASE_PERMISSIONS & ~(VIEW_AUDIT_LOG | MANAGE_GUILD | MANAGE_THREADS)
        value &= ~MANAGE_CHANNELS
        for enabled, bit in (
            (s.view_audit_log, VIEW_AUDIT_LOG),
            (s.manage_guild, MANAGE_GUILD),
            (s.manage_threads, MANAGE_THREADS),
            (s.manage_channels, MANAGE_CHANNELS),
        ):
            if enabled:
                value |= bit
        return value

    def user_guild_member(self, req: ApiRequest) -> Reply:
        """The OAuth2 user's member object in a guild."""
        guild = self.guild(req.params["guild_id"])
        for member in self.world.members[guild["id"]]:
            if member["user"]["id"] == req.principal.user["id"]:
                return 200, member
        raise ApiError(404, UNKNOWN_GUILD)

    def user_connections(self, req: ApiRequest) -> Reply:
        """Linked accounts of the OAuth2 user (none for a bot)."""
        if req.principal.kind != "bearer":
            return 200, []
        return 200, self.emu.oauth.connections(req.principal)

    def oauth2_me(self, req: ApiRequest) -> Reply:
        """The current authorization: application, scopes, expiry and user."""
        return 200, self.emu.oauth.authorization_info(req.principal)

    def application(self, req: ApiRequest) -> Reply:
        """The application, with intent flags following the settings."""
        app = self.world.application
        app["approximate_guild_count"] = len(self.world.guilds)
        return 200, app

    # guilds ---------------------------------------------------------------------------

    def guild_object(self, req: ApiRequest) -> Reply:
        """The full guild; approximate counts only with `with_counts`."""
        with_counts = req.query.boolean("with_counts")
        req.query.check()
        guild = dict(self.guild(req.params["guild_id"]))
        if self._take_unknown_guild_answer():
            raise ApiError(404, UNKNOWN_GUILD)
        if not with_counts:
            guild.pop("approximate_member_count", None)
            guild.pop("approximate_presence_count", None)
        return 200, guild

    def _take_unknown_guild_answer(self) -> bool:
        """Whether this guild request gets Discord's spurious Unknown Guild.

        docs/discord-behaviour.md#unknown-guild-for-a-guild-the-bot-is-in
        """
        with self.settings.lock:
            if self.settings.unknown_guild_answers <= 0:
                return False
            self.settings.unknown_guild_answers -= 1
            return True

    def guild_channels(self, req: ApiRequest) -> Reply:
        """Every guild channel, threads excluded (even ones the bot cannot view).

        docs/discord-behaviour.md#guild-channel-list

        `vanished_channels` stay listed: they vanish between this list and the next call.
        """
        return 200, self.world.channels[self.guild(req.params["guild_id"])["id"]]

    def active_threads(self, req: ApiRequest) -> Reply:
        """Active threads of the guild the bot can see, id descending, with its memberships."""
        guild = self.guild(req.params["guild_id"])
        threads = [
            t
            for t in self.world.threads[guild["id"]]
            if not t["thread_metadata"]["archived"] and self.can_view(t)
        ]
        threads.sort(key=lambda t: int(t["id"]), reverse=True)
        members = self.thread_members(threads)
        return 200, {"threads": threads, "members": members, "has_more": False}

    def thread_members(self, threads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The bot's thread-member objects for the listed threads it has joined."""
        joined = self.world.thread_members
        return [joined[t["id"]] for t in threads if t["id"] in joined]

    def members(self, req: ApiRequest) -> Reply:
        """Members ascending by user id; `after` = last id seen; limit 1-1000, default 1."""
        guild = self.guild(req.params["guild_id"])
        if not self.settings.members_intent:
            raise ApiError(403, MISSING_ACCESS)
        q = req.query
        limit = q.integer("limit", 1, 1, 1000)
        after = q.snowflake("after")
        q.check()
        keys = self.member_keys[guild["id"]]
        start = bisect.bisect_right(keys, after or 0)
        return 200, self.world.members[guild["id"]][start : start + limit]

    def member(self, req: ApiRequest) -> Reply:
        """One member by user id."""
        guild = self.guild(req.params["guild_id"])
        user_id = req.params["user_id"]
        for member in self.world.members[guild["id"]]:
            if member["user"]["id"] == user_id:
                return 200, member
        raise ApiError(404, UNKNOWN_MEMBER)

    def guild_invites(self, req: ApiRequest) -> Reply:
        """Invites; metadata only with Manage Server; View Audit Log alone suffices.

        https://discord.com/developers/docs/resources/guild#get-guild-invites
        """
        guild = self.guild(req.params["guild_id"])
        invites = self.world.invites[guild["id"]]
        if self.settings.manage_guild:
            return 200, invites
        if self.settings.view_audit_log:
            return 200, [strip_metadata(i) for i in invites]
        raise ApiError(403, MISSING_PERMISSIONS)

    def roles(self, req: ApiRequest) -> Reply:
        """Roles by position then id; @everyone has the guild's id."""
        return 200, self.world.roles[self.guild(req.params["guild_id"])["id"]]

    def emojis(self, req: ApiRequest) -> Reply:
        """Custom emojis (with `user`: the bot may manage expressions)."""
        return 200, self.world.emojis[self.guild(req.params["guild_id"])["id"]]

    def stickers(self, req: ApiRequest) -> Reply:
        """Guild stickers."""
        return 200, self.world.stickers[self.guild(req.params["guild_id"])["id"]]

    def scheduled_events(self, req: ApiRequest) -> Reply:
        """Scheduled events; `user_count` only with `with_user_count`."""
        guild = self.guild(req.params["guild_id"])
        with_count = req.query.boolean("with_user_count")
        req.query.check()
        events = self.world.scheduled_events[guild["id"]]
        if with_count:
            return 200, events
        return 200, [{k: v for k, v in e.items() if k != "user_count"} for e in events]

    def audit_logs(self, req: ApiRequest) -> Reply:
        """Entries: descending with `before` or no cursor, ascending with `after`.

        https://discord.com/developers/docs/resources/audit-log#get-guild-audit-log
        """
        guild = self.guild(req.params["guild_id"])
        if not self.settings.view_audit_log:
            raise ApiError(403, MISSING_PERMISSIONS)
        q = req.query
        before, after = q.snowflake("before"), q.snowflake("after")
        limit = q.integer("limit", 50, 1, 100)
        user_id = q.snowflake("user_id")
        action = q.integer("action_type", 0, 1, 1000) if q.has("action_type") else None
        q.check()
        gid = guild["id"]
        entries, keys = self.world.audit_log[gid], self.audit_keys[gid]
        hi = bisect.bisect_left(keys, before) if before is not None else len(keys)
        lo = bisect.bisect_right(keys, after) if after is not None else 0
        window = entries[lo:hi]
        if user_id is not None:
            window = [e for e in window if e["user_id"] == str(user_id)]
        if action is not None:
            window = [e for e in window if e["action_type"] == action]
        page = window[:limit] if after is not None else window[::-1][:limit]
        return 200, self.world.audit_refs[gid].body(page)

    # channels -------------------------------------------------------------------------

    def channel_route(self, req: ApiRequest) -> Reply:
        """A channel or thread; threads the bot joined carry its thread member."""
        channel = self.visible_channel(req.params["channel_id"])
        member = self.world.thread_members.get(channel["id"])
        if member is not None:
            return 200, {**channel, "member": member}
        return 200, channel

    def messages(self, req: ApiRequest) -> Reply:
        """A page of messages, ALWAYS newest first, even with `after`.

        https://discord.com/developers/docs/resources/message#get-channel-messages and
        docs/discord-behaviour.md#message-pages
        """
        channel = self.visible_channel(req.params["channel_id"])
        q = req.query
        q.exclusive("around", "before", "after")
        limit = q.integer("limit", 50, 1, 100)
        cursors = {name: q.snowflake(name) for name in ("around", "before", "after")}
        q.check()
        if channel["type"] not in MESSAGE_CHANNEL_TYPES:
            raise ApiError(400, WRONG_CHANNEL_TYPE)
        if not self.has_history(channel):
            return 200, b"[]"
        log = self.world.log(channel["id"])
        if log is None:
            return 200, b"[]"
        gated = not self.settings.message_content_intent
        with self.factory.lock:
            ids = page_ids(log.ids, limit, **cursors)
            body = self.factory.page_bytes(log, ids, gated)
        if len(ids) == limit and cursors["around"] is None:
            forward = cursors["after"] is not None
            self.factory.prefetch(log, ids[-1] if forward else ids[0], limit, forward, gated)
        return 200, body

    def message(self, req: ApiRequest) -> Reply:
        """One message (needs Read Message History)."""
        channel = self.visible_channel(req.params["channel_id"])
        raw = req.params["message_id"]
        if not raw.isdigit():
            raise ApiError(404, UNKNOWN_MESSAGE)
        if channel["type"] not in MESSAGE_CHANNEL_TYPES:
            raise ApiError(400, WRONG_CHANNEL_TYPE)
        if not self.has_history(channel):
            raise ApiError(403, MISSING_PERMISSIONS)
        log = self.world.log(channel["id"])
        message_id = int(raw)
        with self.factory.lock:
            if log is None or message_id not in log:
                raise ApiError(404, UNKNOWN_MESSAGE)
            msg = self.factory.message(log, message_id)
        if not self.settings.message_content_intent:
            msg = self.factory.gate(msg)
        return 200, dumps(msg)

    def pins(self, req: ApiRequest) -> Reply:
        """A page of pins, newest pin first: `{items: [{pinned_at, message}], has_more}`.

        https://discord.com/developers/docs/resources/message#get-channel-pins: `before`
        is an ISO 8601 timestamp (exclusive), `limit` 1-50 (default 50). Without Read
        Message History the answer is empty, not an error.
        """
        channel = self.visible_channel(req.params["channel_id"])
        q = req.query
        limit = q.integer("limit", 50, 1, 50)
        before = q.instant("before")
        q.check()
        if channel["type"] not in MESSAGE_CHANNEL_TYPES:
            raise ApiError(400, WRONG_CHANNEL_TYPE)
        log = self.world.log(channel["id"])
        if log is None or not self.has_history(channel):
            return 200, {"items": [], "has_more": False}
        gated = not self.settings.message_content_intent
        with self.factory.lock:
            pinned = sorted(
                ((at, mid) for mid, at in self.factory.pins.get(log.channel_id, {}).items()),
                reverse=True,
            )
            if before is not None:
                pinned = [(at, mid) for at, mid in pinned if at < before]
            items = [
                {"pinned_at": iso_from_ms(at), "message": self._shown(log, mid, gated)}
                for at, mid in pinned[:limit]
                if mid in log
            ]
        return 200, {"items": items, "has_more": len(pinned) > limit}

    def _shown(self, log: MessageLog, message_id: int, gated: bool) -> dict[str, Any]:
        """A message as the bot receives it (gated without the Message Content intent)."""
        msg = self.factory.message(log, message_id)
        return self.factory.gate(msg) if gated else msg

    def reaction_users(self, req: ApiRequest) -> Reply:
        """Users of one reaction type on a message, by ascending id, `after` a user id.

        https://discord.com/developers/docs/resources/message#get-reactions: `type` 0
        (normal, default) or 1 (burst), `limit` 1-100 (default 25); the emoji is
        URL-encoded, `name:id` for a custom one (10014 Unknown Emoji when it cannot be
        read as either).
        """
        log, message_id = self._readable_message(req)
        q = req.query
        kind = q.integer("type", 0, 0, 1)
        after = q.snowflake("after")
        limit = q.integer("limit", 25, 1, 100)
        q.check()
        emoji = unquote(req.params["emoji"])
        key = emoji.rsplit(":", 1)[1] if ":" in emoji else emoji
        if not key or (":" in emoji and not key.isdigit()):
            raise ApiError(404, UNKNOWN_EMOJI)
        with self.factory.lock:
            users = self.world.social.reaction_users(log, message_id, key, kind)
        return 200, [user_object(u) for u in after_page(users, after, limit)]

    def poll_voters(self, req: ApiRequest) -> Reply:
        """Voters of one poll answer, `{users: [...]}`, by ascending id, `after` a user id.

        https://discord.com/developers/docs/resources/poll#get-answer-voters: `limit`
        1-100 (default 25).
        """
        log, message_id = self._readable_message(req)
        q = req.query
        after = q.snowflake("after")
        limit = q.integer("limit", 25, 1, 100)
        q.check()
        with self.factory.lock:
            if "poll" not in self.factory.message(log, message_id):
                raise ApiError(404, UNKNOWN_MESSAGE)
            users = self.world.social.poll_voters(log, message_id, int(req.params["answer_id"]))
        return 200, {"users": [user_object(u) for u in after_page(users, after, limit)]}

    def _readable_message(self, req: ApiRequest) -> tuple[MessageLog, int]:
        """The log and id of a message the bot may read (as `message` checks it)."""
        channel = self.visible_channel(req.params["channel_id"])
        if channel["type"] not in MESSAGE_CHANNEL_TYPES:
            raise ApiError(400, WRONG_CHANNEL_TYPE)
        if not self.has_history(channel):
            raise ApiError(403, MISSING_PERMISSIONS)
        log = self.world.log(channel["id"])
        message_id = int(req.params["message_id"])
        with self.factory.lock:
            if log is None or message_id not in log:
                raise ApiError(404, UNKNOWN_MESSAGE)
        return log, message_id

    def channel_invites(self, req: ApiRequest) -> Reply:
        """Invites to one channel, with metadata; needs Manage Channels."""
        channel = self.visible_channel(req.params["channel_id"])
        if not self.settings.manage_channels:
            raise ApiError(403, MISSING_PERMISSIONS)
        gid = self.world.guild_of[channel["id"]]
        return 200, [i for i in self.world.invites[gid] if i["channel"]["id"] == channel["id"]]

    def archived_public(self, req: ApiRequest) -> Reply:
        """Public archived threads: archive_timestamp desc, ISO `before`.

        https://discord.com/developers/docs/resources/channel#list-public-archived-threads
        """
        return self._archived(req, private=False)

    def archived_private(self, req: ApiRequest) -> Reply:
        """Private archived threads: as public, and Manage Threads is required."""
        return self._archived(req, private=True)

    def _archived(self, req: ApiRequest, private: bool) -> Reply:
        parent = self.thread_parent(req.params["channel_id"])
        if private and not self.settings.manage_threads:
            raise ApiError(403, MISSING_PERMISSIONS)
        q = req.query
        before = q.instant("before")
        limit = q.integer("limit", 50, 2, 100)
        q.check()
        kinds = {12} if private else {10, 11}
        threads = [
            t
            for t in self.world.threads[self.world.guild_of[parent["id"]]]
            if t["parent_id"] == parent["id"]
            and t["type"] in kinds
            and t["thread_metadata"]["archived"]
        ]
        stamped = [(archived_ms(t), int(t["id"]), t) for t in threads]
        if before is not None:
            stamped = [s for s in stamped if s[0] < before]
        stamped.sort(key=lambda s: (s[0], s[1]), reverse=True)
        page = [s[2] for s in stamped[:limit]]
        body = {"threads": page, "members": self.thread_members(page)}
        body["has_more"] = len(stamped) > limit
        return 200, body

    def joined_archived(self, req: ApiRequest) -> Reply:
        """Private archived threads the bot joined: id desc, snowflake `before`.

        https://discord.com/developers/docs/resources/channel#list-joined-private-archived-threads
        """
        parent = self.thread_parent(req.params["channel_id"])
        q = req.query
        before = q.snowflake("before")
        limit = q.integer("limit", 50, 2, 100)
        q.check()
        joined = self.world.thread_members
        threads = [
            t
            for t in self.world.threads[self.world.guild_of[parent["id"]]]
            if t["parent_id"] == parent["id"]
            and t["type"] == 12
            and t["thread_metadata"]["archived"]
            and t["id"] in joined
            and (before is None or int(t["id"]) < before)
        ]
        threads.sort(key=lambda t: int(t["id"]), reverse=True)
        page = threads[:limit]
        body = {"threads": page, "members": self.thread_members(page)}
        body["has_more"] = len(threads) > limit
        return 200, body

    def thread_parent(self, channel_id: str) -> dict[str, Any]:
        """A channel that can hold threads, visible, with Read Message History."""
        channel = self.visible_channel(channel_id)
        if channel["type"] not in THREAD_PARENT_TYPES:
            raise ApiError(400, WRONG_CHANNEL_TYPE)
        if not self.has_history(channel):
            raise ApiError(403, MISSING_PERMISSIONS)
        return channel


def archived_ms(thread: dict[str, Any]) -> int:
    """A thread's archive_timestamp as unix ms."""
    return ms_from_iso(thread["thread_metadata"]["archive_timestamp"]) or 0


def strip_metadata(invite: dict[str, Any]) -> dict[str, Any]:
    """An invite as seen without Manage Server: no uses/max_uses/max_age/temporary/created_at."""
    return {k: v for k, v in invite.items() if k not in INVITE_METADATA}


def after_page(user_ids: list[str], after: int | None, limit: int) -> list[str]:
    """The next `limit` of ascending user ids, above `after`."""
    ids = [int(u) for u in user_ids]
    start = bisect.bisect_right(ids, after) if after is not None else 0
    return [str(u) for u in ids[start : start + limit]]
