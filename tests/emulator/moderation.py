"""The rest of a guild: bans, AutoMod rules, webhooks, integrations, onboarding, welcome
screen, soundboard, scheduled-event users, thread members, role member counts, vanity URL.

`GuildRest` generates these objects from a built `World` with a random generator of its
own, so the rest of the world (and every test written against it) stays as it was.
`GuildRestRoutes` holds the route handlers; `routes.Api` inherits them. Each handler
links its route's page; paging, limits and error codes follow Discord's documentation:

* bans: https://discord.com/developers/docs/resources/guild#get-guild-bans
* AutoMod: https://discord.com/developers/docs/resources/auto-moderation#list-auto-moderation-rules-for-guild
* webhooks: https://discord.com/developers/docs/resources/webhook#get-guild-webhooks
* integrations: https://discord.com/developers/docs/resources/guild#get-guild-integrations
* onboarding: https://discord.com/developers/docs/resources/guild#get-guild-onboarding
* welcome screen: https://discord.com/developers/docs/resources/guild#get-guild-welcome-screen
* soundboard: https://discord.com/developers/docs/resources/soundboard#list-guild-soundboard-sounds
* event users: https://discord.com/developers/docs/resources/guild-scheduled-event#get-guild-scheduled-event-users
* thread members: https://discord.com/developers/docs/resources/channel#list-thread-members
* role member counts: https://discord.com/developers/docs/resources/guild#get-guild-role-member-counts
* vanity URL: https://discord.com/developers/docs/resources/guild#get-guild-vanity-url
"""

from __future__ import annotations

import bisect
import random
import secrets
from typing import TYPE_CHECKING, Any

from tests.emulator.errors import (
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    WRONG_CHANNEL_TYPE,
    ApiError,
)
from tests.emulator.people import avatar_hash, user_object
from tests.emulator.snowflakes import iso_from_ms, snowflake_ms

if TYPE_CHECKING:
    from tests.emulator.routes import ApiRequest, Reply
    from tests.emulator.worldgen import World

DAY_MS = 86_400_000
UNKNOWN_SCHEDULED_EVENT = {"message": "Unknown Guild Scheduled Event", "code": 10070}
THREAD_TYPES = frozenset({10, 11, 12})
#: Voice and stage events need View Channel on their channel.
CHANNEL_EVENT_TYPES = frozenset({1, 2})
VANITY_CODE = "singer-taps"


class GuildRest:
    """The generated objects, by guild (or by event / thread), ascending where Discord is."""

    def __init__(self, world: World) -> None:
        """Generate everything now, from the world's seed."""
        self.world = world
        spec = world.spec
        self.r = random.Random(world.seed * 7919 + 17)
        self.bans: dict[str, list[dict[str, Any]]] = {}
        self.automod_rules: dict[str, list[dict[str, Any]]] = {}
        self.webhooks: dict[str, list[dict[str, Any]]] = {}
        #: Webhook id -> its token: credentials the tap must never print or emit.
        self.webhook_tokens: dict[str, str] = {}
        self.integrations: dict[str, list[dict[str, Any]]] = {}
        self.onboarding: dict[str, dict[str, Any]] = {}
        self.welcome_screens: dict[str, dict[str, Any]] = {}
        self.welcome_enabled: dict[str, bool] = {}
        self.sounds: dict[str, list[dict[str, Any]]] = {}
        self.event_users: dict[str, list[dict[str, Any]]] = {}
        self.thread_members: dict[str, list[dict[str, Any]]] = {}
        self.vanity_uses: dict[str, int] = {}
        for g, guild in enumerate(world.guilds):
            gid = guild["id"]
            members = world.members[gid]
            self.bans[gid] = self._bans(gid, spec.bans)
            self.automod_rules[gid] = self._automod_rules(gid, members)
            self.webhooks[gid] = self._webhooks(gid, members)
            self.integrations[gid] = self._integrations(gid, members)
            self.onboarding[gid] = self._onboarding(g, gid)
            self.welcome_screens[gid], self.welcome_enabled[gid] = self._welcome_screen(g, gid)
            self.sounds[gid] = self._sounds(gid, members)
            for i, event in enumerate(world.scheduled_events[gid]):
                count = spec.event_users if i == 0 else self.r.randint(0, spec.event_users)
                self.event_users[event["id"]] = self._event_users(event, members, count)
            for i, thread in enumerate(world.threads[gid]):
                count = spec.thread_members if i == 0 else self.r.randint(1, spec.thread_members)
                self.thread_members[thread["id"]] = self._thread_members(thread, members, count)
            if g == 0:
                self._vanity(guild)
        self.ban_keys = {
            gid: [int(b["user"]["id"]) for b in bans] for gid, bans in self.bans.items()
        }

    def secrets(self) -> set[str]:
        """Webhook tokens and URLs the tap must never print."""
        return set(self.webhook_tokens.values())

    # generation -----------------------------------------------------------------------

    def _bans(self, gid: str, count: int) -> list[dict[str, Any]]:
        """Banned users (no longer members): some with a reason, ascending by user id."""
        world, r = self.world, self.r
        reasons = (None, "spam", "Raid account 🤖", "Harassment — see ticket #42", None)
        out = []
        for i in range(count):
            created = world.end_ms - r.randint(30, 2000) * DAY_MS
            user = user_object(r, world.ids.at(created), 500 + i)
            out.append({"reason": reasons[i % len(reasons)], "user": user})
        return sorted(out, key=lambda ban: int(ban["user"]["id"]))

    def _automod_rules(self, gid: str, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One rule of each trigger type a guild may hold, with every kind of action."""
        world = self.world
        text = [c["id"] for c in world.channels[gid] if c["type"] == 0]
        roles = [x["id"] for x in world.roles[gid] if x["id"] != gid]
        creator = members[0]["user"]["id"]
        base = snowflake_ms(gid) + 20 * DAY_MS
        alert = text[0] if text else None
        rules = [
            (
                1,
                1,
                "No invite links",
                {
                    "keyword_filter": ["discord.gg/*", "*free nitro*"],
                    "regex_patterns": [r"(?i)b[a4]d\s*w[o0]rd"],
                    "allow_list": ["discord.gg/singer"],
                },
                [
                    {
                        "type": 1,
                        "metadata": {"custom_message": "Links to other servers are not allowed"},
                    },
                    {"type": 2, "metadata": {"channel_id": alert}},
                ],
            ),
            (1, 3, "Spam", {}, [{"type": 1, "metadata": {}}]),
            (
                1,
                4,
                "Profanity filter",
                {"presets": [1, 2, 3], "allow_list": ["scunthorpe"]},
                [{"type": 1, "metadata": {}}],
            ),
            (
                1,
                5,
                "Mention raid",
                {"mention_total_limit": 8, "mention_raid_protection_enabled": True},
                [{"type": 3, "metadata": {"duration_seconds": 600}}, {"type": 1, "metadata": {}}],
            ),
            (
                2,
                6,
                "Names must be readable",
                {"keyword_filter": ["*卐*"]},
                [{"type": 4, "metadata": {}}],
            ),
        ]
        out = []
        for i, (event_type, trigger, name, metadata, actions) in enumerate(rules):
            out.append(
                {
                    "id": world.ids.at(base + i * DAY_MS),
                    "guild_id": gid,
                    "name": name,
                    "creator_id": creator,
                    "event_type": event_type,
                    "trigger_type": trigger,
                    "trigger_metadata": metadata,
                    "actions": actions,
                    "enabled": i != 2,
                    "exempt_roles": roles[:2] if i == 0 else [],
                    "exempt_channels": text[-1:] if i == 1 else [],
                }
            )
        return out

    def _webhooks(self, gid: str, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The world's incoming webhooks (with tokens), a follower and an application one."""
        world, r = self.world, self.r
        creator = members[0]["user"]
        out = []
        for i, hook in enumerate(world.webhooks[gid]):
            token = secrets.token_urlsafe(48)
            self.webhook_tokens[hook["id"]] = token
            listed = {**hook, "user": creator, "token": token}
            if i == 0:  # made through the webhook.incoming OAuth2 flow: it carries its URL
                listed["url"] = f"https://discord.com/api/webhooks/{hook['id']}/{token}"
            out.append(listed)
        text = [c for c in world.channels[gid] if c["type"] == 0]
        base = snowflake_ms(gid) + 30 * DAY_MS
        other = next((g for g in world.guilds if g["id"] != gid), world.guilds[0])
        out.append(
            {
                "id": world.ids.at(base),
                "type": 2,
                "guild_id": gid,
                "channel_id": text[-1]["id"] if text else None,
                "user": creator,
                "name": "Announcements",
                "avatar": avatar_hash(r, 0),
                "application_id": None,
                "source_guild": {"id": other["id"], "name": other["name"], "icon": other["icon"]},
                "source_channel": {"id": other["id"], "name": "announcements"},
            }
        )
        out.append(
            {
                "id": world.ids.at(base + DAY_MS),
                "type": 3,
                "guild_id": gid,
                "channel_id": None,
                "name": None,
                "avatar": None,
                "application_id": world.bot_user["id"],
            }
        )
        return sorted(out, key=lambda hook: int(hook["id"]))

    def _integrations(self, gid: str, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The bot's own integration and a Twitch one with every optional field."""
        world, r = self.world, self.r
        bot = world.bot_user
        base = snowflake_ms(gid) + 2 * DAY_MS
        role = next(x["id"] for x in world.roles[gid] if x.get("tags", {}).get("bot_id"))
        streamer = members[r.randrange(len(members))]["user"]
        return [
            {
                "id": world.ids.at(base),
                "name": bot["username"],
                "type": "discord",
                "enabled": True,
                "account": {"id": bot["id"], "name": bot["username"]},
                "application": {
                    "id": bot["id"],
                    "name": bot["username"],
                    "icon": None,
                    "description": "Reads the server into a warehouse",
                    "bot": bot,
                },
                "scopes": ["bot", "applications.commands"],
                "user": members[0]["user"],
            },
            {
                "id": world.ids.at(base + DAY_MS),
                "name": "singer_streams",
                "type": "twitch",
                "enabled": True,
                "syncing": False,
                "role_id": role,
                "enable_emoticons": True,
                "expire_behavior": 1,
                "expire_grace_period": 7,
                "user": streamer,
                "account": {"id": "51496027", "name": "singer_streams"},
                "synced_at": iso_from_ms(world.end_ms - 3 * DAY_MS),
                "subscriber_count": r.randint(0, 500),
                "revoked": False,
            },
        ]

    def _onboarding(self, g: int, gid: str) -> dict[str, Any]:
        """Prompts with options; the second guild's has no `mode` (as in Discord's example)."""
        world = self.world
        text = [c["id"] for c in world.channels[gid] if c["type"] == 0]
        roles = [x["id"] for x in world.roles[gid] if x["id"] != gid and not x.get("managed")]
        emoji = world.emojis[gid][0] if world.emojis[gid] else None
        base = snowflake_ms(gid) + 40 * DAY_MS
        options = [
            {
                "id": world.ids.at(base + 1000 * i),
                "channel_ids": text[i : i + 1],
                "role_ids": roles[i : i + 1],
                "emoji": {"id": None, "name": "🎮", "animated": False}
                if i == 0 or emoji is None
                else {"id": emoji["id"], "name": emoji["name"], "animated": emoji["animated"]},
                "title": ("Gaming", "Data pipelines", "Just lurking")[i],
                "description": None if i == 2 else "Channels and a role for it",
            }
            for i in range(3)
        ]
        prompts = [
            {
                "id": world.ids.at(base),
                "type": 0,
                "options": options,
                "title": "What brings you here?",
                "single_select": False,
                "required": True,
                "in_onboarding": True,
            }
        ]
        body: dict[str, Any] = {
            "guild_id": gid,
            "prompts": prompts if g % 2 == 0 else [],
            "default_channel_ids": text[:2],
            "enabled": g % 2 == 0,
        }
        if g % 2 == 0:
            body["mode"] = 1
        return body

    def _welcome_screen(self, g: int, gid: str) -> tuple[dict[str, Any], bool]:
        """An enabled screen with channels, or a disabled empty one (Manage Server to read)."""
        text = [c["id"] for c in self.world.channels[gid] if c["type"] == 0]
        emoji = self.world.emojis[gid][0] if self.world.emojis[gid] else None
        if g % 2 == 1:
            return {"description": None, "welcome_channels": []}, False
        channels = [
            {
                "channel_id": text[0],
                "description": "Say hello",
                "emoji_id": None,
                "emoji_name": "👋",
            },
            {
                "channel_id": text[-1],
                "description": "Read the rules",
                "emoji_id": emoji["id"] if emoji else None,
                "emoji_name": emoji["name"] if emoji else None,
            },
        ]
        return {
            "description": "Welcome to the Singer taps community",
            "welcome_channels": channels,
        }, True

    def _sounds(self, gid: str, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Guild sounds; one unavailable (boosts lost), one with a custom emoji."""
        world, r = self.world, self.r
        emoji = world.emojis[gid][0] if world.emojis[gid] else None
        base = snowflake_ms(gid) + 50 * DAY_MS
        out = []
        for i, name in enumerate(("airhorn", "sad trombone", "ding ✨")):
            out.append(
                {
                    "name": name,
                    "sound_id": world.ids.at(base + i * DAY_MS),
                    "volume": (1.0, 0.5, 0.25)[i],
                    "emoji_id": emoji["id"] if (emoji and i == 1) else None,
                    "emoji_name": "📯"
                    if i == 0
                    else (emoji["name"] if (emoji and i == 1) else None),
                    "guild_id": gid,
                    "available": i != 2,
                    "user": members[r.randrange(len(members))]["user"],
                }
            )
        return out

    def _event_users(
        self, event: dict[str, Any], members: list[dict[str, Any]], count: int
    ) -> list[dict[str, Any]]:
        """Members interested in the event, ascending by user id, with their member object."""
        chosen = sorted(
            self.r.sample(members, min(count, len(members))), key=lambda m: int(m["user"]["id"])
        )
        out = []
        for member in chosen:
            slim = {k: v for k, v in member.items() if k != "user"}
            out.append(
                {"guild_scheduled_event_id": event["id"], "user": member["user"], "member": slim}
            )
        return out

    def _thread_members(
        self, thread: dict[str, Any], members: list[dict[str, Any]], count: int
    ) -> list[dict[str, Any]]:
        """Members of a thread, ascending by user id (the bot's own membership included)."""
        world = self.world
        bot_id = world.bot_user["id"]
        people = [m for m in members if m["user"]["id"] != bot_id]
        chosen = self.r.sample(people, min(count, len(people)))
        if thread["id"] in world.thread_members:
            chosen.append(next(m for m in members if m["user"]["id"] == bot_id))
        created = snowflake_ms(thread["id"])
        out = []
        for member in sorted(chosen, key=lambda m: int(m["user"]["id"])):
            joined = created + self.r.randint(1, 3 * DAY_MS)
            mine = (
                world.thread_members.get(thread["id"]) if member["user"]["id"] == bot_id else None
            )
            out.append(
                {
                    "id": thread["id"],
                    "user_id": member["user"]["id"],
                    "join_timestamp": mine["join_timestamp"] if mine else iso_from_ms(joined),
                    "flags": mine["flags"] if mine else self.r.choice((0, 2, 4)),
                    "member": member,
                }
            )
        thread["member_count"] = min(len(out), 50)  # Discord stops counting at 50
        return out

    def _vanity(self, guild: dict[str, Any]) -> None:
        """The first guild has a vanity URL (the feature, the code, and its uses)."""
        guild["features"] = [*guild["features"], "VANITY_URL"]
        guild["vanity_url_code"] = VANITY_CODE
        for invite in self.world.invites[guild["id"]]:
            invite["guild"]["features"] = guild["features"]
            invite["guild"]["vanity_url_code"] = VANITY_CODE
        self.vanity_uses[guild["id"]] = self.r.randint(10, 900)

    # truth helpers --------------------------------------------------------------------

    def role_member_counts(self, gid: str) -> dict[str, int]:
        """Members per role, @everyone left out (as Discord does)."""
        counts = {x["id"]: 0 for x in self.world.roles[gid] if x["id"] != gid}
        for member in self.world.members[gid]:
            for role_id in member["roles"]:
                if role_id in counts:
                    counts[role_id] += 1
        return counts

    def vanity(self, gid: str) -> dict[str, Any]:
        """`{code, uses}`: code null where the guild has none."""
        guild = self.world.guild(gid) or {}
        code = guild.get("vanity_url_code")
        return {"code": code, "uses": self.vanity_uses.get(gid, 0) if code else 0}


class GuildRestRoutes:
    """Handlers of the routes above (mixed into `routes.Api`, which has the lookups)."""

    world: Any
    settings: Any
    guild: Any
    visible_channel: Any

    @property
    def rest(self) -> GuildRest:
        """The generated objects."""
        return self.world.guild_rest  # type: ignore[no-any-return]

    def guild_bans(self, req: ApiRequest) -> Reply:
        """Bans ascending by user id; `before` wins over `after`; limit 1-1000 (1000)."""
        guild = self.guild(req.params["guild_id"])
        if not self.settings.ban_members or guild["id"] in self.settings.no_ban_members_in:
            raise ApiError(403, MISSING_PERMISSIONS)
        q = req.query
        limit = q.integer("limit", 1000, 1, 1000)
        before, after = q.snowflake("before"), q.snowflake("after")
        q.check()
        bans, keys = self.rest.bans[guild["id"]], self.rest.ban_keys[guild["id"]]
        if before is not None:
            hi = bisect.bisect_left(keys, before)
            return 200, bans[max(0, hi - limit) : hi]
        lo = bisect.bisect_right(keys, after or 0)
        return 200, bans[lo : lo + limit]

    def automod_rules(self, req: ApiRequest) -> Reply:
        """Every rule; Manage Server."""
        guild = self.guild(req.params["guild_id"])
        self._need_manage_guild()
        return 200, self.rest.automod_rules[guild["id"]]

    def guild_webhooks(self, req: ApiRequest) -> Reply:
        """Every webhook, tokens included; Manage Webhooks."""
        guild = self.guild(req.params["guild_id"])
        if not self.settings.manage_webhooks:
            raise ApiError(403, MISSING_PERMISSIONS)
        return 200, self.rest.webhooks[guild["id"]]

    def guild_integrations(self, req: ApiRequest) -> Reply:
        """At most 50 integrations; Manage Server."""
        guild = self.guild(req.params["guild_id"])
        self._need_manage_guild()
        return 200, self.rest.integrations[guild["id"]][:50]

    def guild_onboarding(self, req: ApiRequest) -> Reply:
        """The onboarding object (no permission documented)."""
        return 200, self.rest.onboarding[self.guild(req.params["guild_id"])["id"]]

    def welcome_screen(self, req: ApiRequest) -> Reply:
        """The welcome screen; a disabled one needs Manage Server."""
        gid = self.guild(req.params["guild_id"])["id"]
        if not self.rest.welcome_enabled[gid]:
            self._need_manage_guild()
        return 200, self.rest.welcome_screens[gid]

    def soundboard_sounds(self, req: ApiRequest) -> Reply:
        """`{items: [sound]}`."""
        return 200, {"items": self.rest.sounds[self.guild(req.params["guild_id"])["id"]]}

    def scheduled_event_users(self, req: ApiRequest) -> Reply:
        """Users ascending by id; `before` wins over `after`; limit 1-100 (100)."""
        gid = self.guild(req.params["guild_id"])["id"]
        event = next(
            (e for e in self.world.scheduled_events[gid] if e["id"] == req.params["event_id"]),
            None,
        )
        if event is None:
            raise ApiError(404, UNKNOWN_SCHEDULED_EVENT)
        if event["entity_type"] in CHANNEL_EVENT_TYPES and event["channel_id"]:
            self.visible_channel(event["channel_id"])
        q = req.query
        limit = q.integer("limit", 100, 1, 100)
        before, after = q.snowflake("before"), q.snowflake("after")
        with_member = q.boolean("with_member")
        q.check()
        users = self.rest.event_users.get(event["id"], [])
        keys = [int(u["user"]["id"]) for u in users]
        if before is not None:
            hi = bisect.bisect_left(keys, before)
            page = users[max(0, hi - limit) : hi]
        else:
            lo = bisect.bisect_right(keys, after or 0)
            page = users[lo : lo + limit]
        if not with_member:
            page = [{k: v for k, v in u.items() if k != "member"} for u in page]
        return 200, page

    def thread_members_list(self, req: ApiRequest) -> Reply:
        """Thread members ascending by user id; paged only with `with_member=true`.

        Needs the Server Members intent (403 50001 without, as `/members` answers).
        """
        thread = self.visible_channel(req.params["channel_id"])
        if thread["type"] not in THREAD_TYPES:
            raise ApiError(400, WRONG_CHANNEL_TYPE)
        if not self.settings.members_intent:
            raise ApiError(403, MISSING_ACCESS)
        q = req.query
        with_member = q.boolean("with_member")
        limit = q.integer("limit", 100, 1, 100)
        after = q.snowflake("after")
        q.check()
        found = self.rest.thread_members.get(thread["id"], [])
        if not with_member:
            return 200, [{k: v for k, v in m.items() if k != "member"} for m in found]
        keys = [int(m["user_id"]) for m in found]
        lo = bisect.bisect_right(keys, after or 0)
        return 200, found[lo : lo + limit]

    def role_member_counts(self, req: ApiRequest) -> Reply:
        """`{role_id: count}` without @everyone."""
        return 200, self.rest.role_member_counts(self.guild(req.params["guild_id"])["id"])

    def vanity_url(self, req: ApiRequest) -> Reply:
        """`{code, uses}`; Manage Server."""
        gid = self.guild(req.params["guild_id"])["id"]
        self._need_manage_guild()
        return 200, self.rest.vanity(gid)

    def _need_manage_guild(self) -> None:
        """403 50013 without Manage Server."""
        if not self.settings.manage_guild:
            raise ApiError(403, MISSING_PERMISSIONS)
