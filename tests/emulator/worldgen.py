"""The generated Discord world: ground truth for every test.

Ids are snowflakes (https://discord.com/developers/docs/reference#snowflakes); objects have the
shapes of the pages the builder modules link.

Everything is derived from `WorldSpec` and its seed. Objects are stored exactly
as the API returns them to a bot with every permission and every intent; the
server applies permission errors and Message Content gating on the way out.
"""

from __future__ import annotations

import bisect
import random
import string
from collections.abc import Callable, Sequence
from typing import Any

from tests.emulator import audit
from tests.emulator.ids import MAX_LOG_ORDINAL, IdAllocator, spread_ids
from tests.emulator.messages import GuildPool, MessageFactory, MessageLog, MessageMap
from tests.emulator.moderation import GuildRest
from tests.emulator.people import (
    avatar_hash,
    bot_user_object,
    emoji_objects,
    guild_roles,
    member_object,
    sticker_objects,
    user_object,
)
from tests.emulator.snowflakes import (
    iso_from_ms,
    make_snowflake,
    ms_of_date,
    now_ms,
    snowflake_ms,
)
from tests.emulator.social import Social, initial_pins
from tests.emulator.spec import WorldSpec

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
VIEW_CHANNEL = 1 << 10
READ_MESSAGE_HISTORY = 1 << 16
NUL = "\x00"

#: Creation dates of the first guilds: 17-digit (2015), 18-digit (2016), then 19-digit ids.
GUILD_DATES = ((2015, 4, 10), (2016, 3, 2), (2020, 6, 15), (2023, 1, 20))
TEXT_NAMES = ("general", "random", "engineering", "off-topic", "help", "showcase", "music")
MESSAGE_TYPES = frozenset({0, 2, 5, 10, 11, 12, 13})
"""Channel types whose messages are stored (text, voice, announcement, threads, stage)."""


class World:
    """Guilds and everything in them, plus lookup indexes the server needs."""

    def __init__(self, spec: WorldSpec) -> None:
        """Generate the whole world now (messages lazily; see messages.py)."""
        self.spec = spec
        self.seed = spec.seed
        self.rng = random.Random(spec.seed)
        self.end_ms = _end_ms(spec)
        self.ids = IdAllocator()
        app_id = str(make_snowflake(ms_of_date(2021, 3, 14), 1, 0, 7))
        self.bot_user = bot_user_object(app_id)
        self._application = _application_object(app_id, self.bot_user)
        self.application_flags: Callable[[], int] = lambda: 0
        self.factory = MessageFactory(
            spec.seed, self.bot_user, app_id, self.end_ms, richness=spec.richness
        )
        self.lock = self.factory.lock
        self.messages = MessageMap(self.factory)
        self.guilds: list[dict[str, Any]] = []
        self.channels: dict[str, list[dict[str, Any]]] = {}
        self.threads: dict[str, list[dict[str, Any]]] = {}
        self.members: dict[str, list[dict[str, Any]]] = {}
        self.invites: dict[str, list[dict[str, Any]]] = {}
        self.roles: dict[str, list[dict[str, Any]]] = {}
        self.emojis: dict[str, list[dict[str, Any]]] = {}
        self.stickers: dict[str, list[dict[str, Any]]] = {}
        self.scheduled_events: dict[str, list[dict[str, Any]]] = {}
        self.audit_log: dict[str, list[dict[str, Any]]] = {}
        self.audit_refs: dict[str, audit.AuditRefs] = {}
        self.webhooks: dict[str, list[dict[str, Any]]] = {}
        self.thread_members: dict[str, dict[str, Any]] = {}
        self.unreadable: set[str] = set()
        self.no_history: set[str] = set()
        self.index: dict[str, dict[str, Any]] = {}
        self.guild_of: dict[str, str] = {}
        self._ordinal = 0
        self._text_index = 0
        self.users = self._user_pool()
        self._application["owner"] = self.users[0]
        for g in range(spec.guilds):
            self._build_guild(g)
        self.social = Social(self.factory)
        self._pin_messages(spec.pins_per_channel)
        self._flag_listed_channels()
        self._awkward_messages()
        if spec.nul_everywhere:
            self._nul_everywhere()
        self.guild_rest = GuildRest(self)

    def _pin_messages(self, per_channel: int) -> None:
        """Pin `per_channel` messages in each text and announcement channel."""
        for channels in self.channels.values():
            for channel in channels:
                log = self.log(channel["id"])
                if channel["type"] in (0, 5) and log is not None:
                    initial_pins(self.social, log, per_channel, self.end_ms)

    def _awkward_messages(self) -> None:
        """In the first readable text channel: a message whose content holds a NUL (for
        loaders that choke on it), and, after it, a voice message (a float value)."""
        for channels in self.channels.values():
            for channel in channels:
                log = self.log(channel["id"])
                if channel["type"] != 0 or log is None or channel["id"] in self.unreadable:
                    continue
                if channel["id"] in self.no_history:
                    continue
                plain = []
                for mid in log.ids[7:] or log.ids:
                    msg = self.factory.message(log, mid, nested=True)
                    if msg["type"] == 0 and mid not in log.threads and "webhook_id" not in msg:
                        plain.append((mid, msg))
                        if len(plain) == 2:
                            break
                if not plain:
                    continue
                mid, msg = plain[0]
                msg["content"] = "NUL \u0000 inside — ünïcödé 🎉\nand a second line"
                log.overrides[mid] = msg
                if len(plain) == 2:
                    mid, msg = plain[1]
                    self.factory.make_voice_message(random.Random(mid), msg, snowflake_ms(mid))
                    log.overrides[mid] = msg
                return

    def _nul_everywhere(self) -> None:
        """NUL characters wherever users write text, at every depth (`nul_everywhere`).

        Discord passes NUL through; a loader that cleans only top-level strings fails on
        the nested ones. Per guild: the guild's description, a role's name, a member's
        nick and (one level down) its user's global name, a channel's topic, an event's
        description, a sticker's description, an audit-log entry's reason and (three and
        four levels down) its changes. In each guild's first readable text channel: a
        message's author (level 2), an embed's description and footer (levels 3 and 4),
        a mention (level 3), and a replied-to message, whose content then reaches every
        reply as `referenced_message.content`.
        """
        for guild in self.guilds:
            gid = guild["id"]
            guild["description"] = f"Guild{NUL}description"
            _put_nul(self.roles[gid][-1], "name")
            members = self.members[gid]
            if members:
                _put_nul(members[0], "nick")
                members[-1]["user"] = dict(members[-1]["user"], global_name=f"Glo{NUL}bal")
            for channel in self.channels[gid]:
                if channel["type"] == 0 and channel["id"] not in self.unreadable:
                    channel["topic"] = f"Topic{NUL}with NUL"
                    break
            for kind in (self.scheduled_events, self.stickers):
                if kind[gid]:
                    _put_nul(kind[gid][0], "description")
            self._nul_in_audit_log(self.audit_log[gid])
            self._nul_in_messages(gid)

    def _nul_in_audit_log(self, entries: list[dict[str, Any]]) -> None:
        """A reason, a string change and a change holding objects (role updates)."""
        if entries:
            _put_nul(entries[0], "reason")
        string_done = objects_done = False
        for entry in entries:
            for change in entry.get("changes") or ():
                value = change.get("new_value")
                if isinstance(value, str) and not string_done:
                    change["new_value"] = value + NUL
                    string_done = True
                elif not objects_done and isinstance(value, list) and _first_is_dict(value):
                    change["new_value"] = [dict(value[0], name=f"Ro{NUL}le"), *value[1:]]
                    objects_done = True

    def _nul_in_messages(self, gid: str) -> None:
        """Author, embed, mention and replied-to content in the first readable channel."""
        for channel in self.channels[gid]:
            log = self.log(channel["id"])
            if channel["type"] != 0 or log is None or channel["id"] in self.unreadable:
                continue
            if channel["id"] in self.no_history or not log.ids:
                continue
            needs = ["author", "embed", "mention", "reply"]
            for mid in log.ids:
                msg = self.factory.message(log, mid, nested=True)
                part = next((p for p in needs if self._nul_in_message(log, mid, msg, p)), None)
                if part:
                    needs.remove(part)
                if not needs:
                    break
            return

    def _nul_in_message(self, log: MessageLog, mid: int, msg: dict[str, Any], part: str) -> bool:
        """Put a NUL into one `part` of `msg` if it has that part; whether it did."""
        if part == "reply":
            ref = msg.get("message_reference") or {}
            target = int(ref.get("message_id") or 0)
            if msg["type"] != 19 or ref.get("channel_id") != str(log.channel_id):
                return False
            if target not in log or target in log.overrides:
                return False
            replied = self.factory.message(log, target, nested=True)
            replied["content"] = f"Replied{NUL}to"
            log.overrides[target] = replied
            return True
        if mid in log.overrides or msg["type"] != 0:
            return False
        if part == "author":
            msg["author"] = dict(msg["author"], global_name=f"Au{NUL}thor")
        elif part == "embed" and msg["embeds"]:
            embed = dict(msg["embeds"][0], description=f"before{NUL}after")
            embed["footer"] = dict(embed.get("footer") or {}, text=f"Foot{NUL}er")
            msg["embeds"] = [embed, *msg["embeds"][1:]]
        elif part == "mention" and msg["mentions"]:
            msg["mentions"] = [dict(msg["mentions"][0], global_name=f"Men{NUL}tion")]
        else:
            return False
        log.overrides[mid] = msg
        return True

    # public helpers -------------------------------------------------------------------

    @property
    def application(self) -> dict[str, Any]:
        """`GET /applications/@me`, with intent flags as currently configured."""
        return dict(self._application, flags=self.application_flags())

    def guild(self, guild_id: str) -> dict[str, Any] | None:
        """A guild the bot is in, by id."""
        for guild in self.guilds:
            if guild["id"] == guild_id:
                return guild
        return None

    def log(self, channel_id: str) -> MessageLog | None:
        """The message log of a channel or thread, if it can hold messages."""
        try:
            return self.factory.logs.get(int(channel_id))
        except ValueError:
            return None

    def starter_thread_logs(self, log: MessageLog) -> list[MessageLog]:
        """Thread logs whose type-21 starter points into `log` (their cache must follow)."""
        found = []
        for thread in log.threads.values():
            child = self.factory.logs.get(int(thread["id"]))
            if child is not None:
                found.append(child)
        return found

    # users ----------------------------------------------------------------------------

    def _user_pool(self) -> list[dict[str, Any]]:
        """Users shared by the guilds (members overlap between guilds, as in life)."""
        spec = self.spec
        size = max(spec.members, int(spec.members * (1 + 0.5 * max(0, spec.guilds - 1))))
        first, last = ms_of_date(2015, 3, 1), self.end_ms - 20 * DAY_MS
        r = random.Random(self.seed * 31 + 1)
        users = []
        for i in range(size):
            created = first + int((last - first) * r.random())
            users.append(user_object(r, self.ids.at(created), i, bot=(i == 3)))
        return users

    # guild ----------------------------------------------------------------------------

    def _build_guild(self, g: int) -> None:
        """One guild: roles, members, channels, messages, threads, and the rest."""
        r = random.Random(self.seed * 1009 + g)
        y, m, d = GUILD_DATES[g % len(GUILD_DATES)]
        created = ms_of_date(y, m, d) + (g // len(GUILD_DATES)) * 40 * DAY_MS + 37_000
        gid = self.ids.at(created)
        roles = guild_roles(self.ids, r, gid, created, self.bot_user["id"], self.spec.roles)
        members = self._members(r, gid, created, roles)
        member_users = [m["user"] for m in members if m["user"]["id"] != self.bot_user["id"]]
        emojis = emoji_objects(self.ids, r, created + 5 * DAY_MS, member_users, self.spec.emojis)
        stickers = sticker_objects(
            self.ids, gid, created + 6 * DAY_MS, member_users, self.spec.stickers
        )
        guild = _guild_object(gid, g, member_users[0]["id"], roles, emojis, stickers, members)
        self.guilds.append(guild)
        self.roles[gid], self.members[gid] = roles, members
        self.emojis[gid], self.stickers[gid] = emojis, stickers
        self.channels[gid], self.threads[gid] = [], []
        self.webhooks[gid] = []
        self._register_pool(r, gid, member_users, roles, emojis, stickers)
        self._channels(r, g, gid, created)
        self._threads(r, gid, member_users)
        self.threads[gid].sort(key=lambda t: int(t["id"]))
        self.invites[gid] = self._invites(r, gid, guild, member_users)
        self.scheduled_events[gid] = self._events(r, gid, member_users)
        guild["system_channel_id"] = self.channels[gid][1]["id"]
        entries, refs = audit.generate(self, r, gid, member_users)
        self.audit_log[gid], self.audit_refs[gid] = entries, refs

    def _members(
        self, r: random.Random, gid: str, created: int, roles: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The bot plus `spec.members` users, ascending by user id."""
        count = min(self.spec.members, len(self.users))
        chosen = r.sample(self.users, count)
        assignable = [x["id"] for x in roles if not x.get("managed") and x["id"] != gid]
        booster = next((x["id"] for x in roles if "premium_subscriber" in x.get("tags", {})), None)
        out = []
        for user in chosen:
            earliest = max(created, snowflake_ms(user["id"])) + HOUR_MS
            joined = earliest + int((self.end_ms - 10 * DAY_MS - earliest) * r.random())
            out.append(member_object(r, user, joined, assignable, booster, self.end_ms))
        bot_role = next(x["id"] for x in roles if x.get("tags", {}).get("bot_id"))
        bot_member = member_object(r, self.bot_user, created + DAY_MS, [], None, self.end_ms)
        bot_member.update(roles=[bot_role], nick=None, communication_disabled_until=None, flags=0)
        bot_member["premium_since"] = None
        out.append(bot_member)
        return sorted(out, key=lambda mem: int(mem["user"]["id"]))

    def _register_pool(
        self,
        r: random.Random,
        gid: str,
        users: list[dict[str, Any]],
        roles: list[dict[str, Any]],
        emojis: list[dict[str, Any]],
        stickers: list[dict[str, Any]],
    ) -> None:
        """What this guild's messages draw from, and two integration webhooks."""
        mentionable = [x["id"] for x in roles if x["id"] != gid and not x.get("managed")]
        self.factory.pools[gid] = GuildPool(gid, users, mentionable, stickers, emojis)

    # channels -------------------------------------------------------------------------

    def _channels(self, r: random.Random, g: int, gid: str, created: int) -> None:
        """Categories, text channels (with messages) and one of each other type."""
        spec = self.spec
        text_cat = self._channel(gid, 4, "Text Channels", created + DAY_MS, None, 0)
        counts = [spec.messages_for(self._text_index + i) for i in range(spec.text_channels)]
        boundary = _boundary_index(counts) if (g == 0 and spec.boundary_channel) else -1
        span_start = self.end_ms - int(spec.span_days * DAY_MS)
        for i, count in enumerate(counts):
            name = TEXT_NAMES[i] if i < len(TEXT_NAMES) else f"text-{i}"
            if i == boundary:
                at = ms_of_date(2015, 5, 1) + i * HOUR_MS
                window = (ms_of_date(2016, 2, 1), self.end_ms - 5 * 60_000)
            else:
                at = created + 2 * DAY_MS + i * HOUR_MS
                window = (max(span_start, at + HOUR_MS), self.end_ms - 60_000)
            channel = self._channel(gid, 0, name, at, text_cat["id"], i, topic=True)
            self._fill(channel, gid, count, window)
        self._text_index += spec.text_channels
        if spec.other_channel_types:
            self._other_channels(r, gid, created, span_start)
        self._webhooks(r, gid, created)
        if g == 0:
            self._restricted_channels(gid, text_cat["id"], created, span_start)

    def _other_channels(self, r: random.Random, gid: str, created: int, span_start: int) -> None:
        """Voice, category, announcement, stage, forum and media channels."""
        n = self.spec.other_channel_messages
        window = (max(span_start, created + 30 * DAY_MS), self.end_ms - 120_000)
        voice_cat = self._channel(gid, 4, "Voice Channels", created + 3 * DAY_MS, None, 1)
        at = created + 4 * DAY_MS
        voice = self._channel(gid, 2, "Lounge 🔊", at, voice_cat["id"], 0)
        self._fill(voice, gid, n, window)
        news = self._channel(gid, 5, "announcements", at + HOUR_MS, None, 20, topic=True)
        self._fill(news, gid, n, window)
        stage = self._channel(gid, 13, "Town Hall", at + 2 * HOUR_MS, voice_cat["id"], 1)
        self._fill(stage, gid, n, window)
        self._channel(gid, 15, "ideas", at + 3 * HOUR_MS, None, 21, topic=True)
        self._channel(gid, 16, "gallery", at + 4 * HOUR_MS, None, 22, topic=True)

    def _restricted_channels(self, gid: str, parent: str, created: int, span_start: int) -> None:
        """Extra text channels the bot cannot view, or whose history it cannot read."""
        window = (max(span_start, created + 30 * DAY_MS), self.end_ms - 180_000)
        spec = self.spec
        for i in range(
            spec.unreadable_channels if isinstance(spec.unreadable_channels, int) else 0
        ):
            channel = self._channel(gid, 0, f"mod-only-{i}", created + 9 * DAY_MS, parent, 50 + i)
            self._fill(channel, gid, 12, window)
            self._restrict(channel, gid, VIEW_CHANNEL, self.unreadable)
        count = spec.no_history_channels if isinstance(spec.no_history_channels, int) else 0
        for i in range(count):
            channel = self._channel(gid, 0, f"read-only-{i}", created + 10 * DAY_MS, parent, 60 + i)
            self._fill(channel, gid, 12, window)
            self._restrict(channel, gid, READ_MESSAGE_HISTORY, self.no_history)

    def _restrict(self, channel: dict, gid: str, denied: int, into: set[str]) -> None:
        """Deny a permission to @everyone on a channel (the bot has no override)."""
        overwrite = {"id": gid, "type": 0, "allow": "0", "deny": str(denied)}
        channel["permission_overwrites"] = [overwrite]
        into.add(channel["id"])

    def _flag_listed_channels(self) -> None:
        """Apply `unreadable_channels` / `no_history_channels` given as ids."""
        for value, denied, into in (
            (self.spec.unreadable_channels, VIEW_CHANNEL, self.unreadable),
            (self.spec.no_history_channels, READ_MESSAGE_HISTORY, self.no_history),
        ):
            if isinstance(value, int):
                continue
            for channel_id in value:
                channel = self.index.get(str(channel_id))
                if channel is None:
                    raise ValueError(f"no channel {channel_id} in this world")
                self._restrict(channel, self.guild_of[channel["id"]], denied, into)

    def _channel(
        self,
        gid: str,
        kind: int,
        name: str,
        at: int,
        parent: str | None,
        position: int,
        topic: bool = False,
    ) -> dict[str, Any]:
        """A guild channel of any type, with the fields that type carries."""
        channel: dict[str, Any] = {
            "id": self.ids.at(at),
            "type": kind,
            "flags": 0,
            "guild_id": gid,
            "name": name,
            "parent_id": parent,
            "position": position,
            "permission_overwrites": [],
        }
        if kind in (0, 2, 5, 13, 15, 16):
            channel["nsfw"] = False
            channel["rate_limit_per_user"] = 0
        if kind in (0, 2, 5, 13):
            channel["last_message_id"] = None
        if kind in (0, 5):
            channel["last_pin_timestamp"] = None
            channel["default_auto_archive_duration"] = 1440
        if topic:
            channel["topic"] = f"All about #{name} — ünïcödé welcome 🎉"
        if kind in (2, 13):
            channel.update(bitrate=64000, user_limit=0 if kind == 2 else 10000, rtc_region=None)
        if kind == 2:
            channel["video_quality_mode"] = 1
        if kind in (15, 16):
            self._forum_fields(channel, kind)
        self.channels[gid].append(channel)
        self.index[channel["id"]] = channel
        self.guild_of[channel["id"]] = gid
        return channel

    def _forum_fields(self, channel: dict[str, Any], kind: int) -> None:
        """Tags, default reaction and layout of forum and media channels."""
        base = int(channel["id"])
        channel.update(
            last_message_id=None,
            default_auto_archive_duration=4320,
            default_thread_rate_limit_per_user=0,
            default_reaction_emoji={"emoji_id": None, "emoji_name": "👍"},
            default_sort_order=None,
            available_tags=[
                {
                    "id": str(base + 1 + i),
                    "name": name,
                    "moderated": False,
                    "emoji_id": None,
                    "emoji_name": emoji,
                }
                for i, (name, emoji) in enumerate((("idea", "💡"), ("bug", "🐛"), ("done", "✅")))
            ],
        )
        if kind == 15:
            channel["default_forum_layout"] = 1

    def _fill(
        self, channel: dict[str, Any], gid: str, count: int, window: tuple[int, int]
    ) -> MessageLog:
        """Give a channel or thread `count` messages spread over `window`."""
        ordinal = self._next_ordinal()
        ids = spread_ids(window[0], window[1], count, ordinal, salt=self.seed + ordinal)
        log = MessageLog(channel, gid, ordinal, ids)
        self.factory.logs[int(channel["id"])] = log
        if count:
            channel["last_message_id"] = str(ids[-1])
        return log

    def _next_ordinal(self) -> int:
        """The next (worker, process) slot for a message log."""
        ordinal = self._ordinal
        self._ordinal += 1
        if ordinal > MAX_LOG_ORDINAL:
            ordinal = ordinal % (MAX_LOG_ORDINAL + 1)
        return ordinal

    def _webhooks(self, r: random.Random, gid: str, created: int) -> None:
        """Two channel webhooks whose posts appear among the messages."""
        text = [c for c in self.channels[gid] if c["type"] == 0]
        for i, name in enumerate(("GitHub", "Status Page")):
            hook = {
                "id": self.ids.at(created + 8 * DAY_MS + i * HOUR_MS),
                "type": 1,
                "guild_id": gid,
                "channel_id": text[i % len(text)]["id"] if text else None,
                "name": name,
                "avatar": avatar_hash(r, 0),
                "application_id": None,
            }
            self.webhooks[gid].append(hook)
        self.factory.pools[gid].webhooks = self.webhooks[gid]

    # threads --------------------------------------------------------------------------

    def _threads(self, r: random.Random, gid: str, users: list[dict[str, Any]]) -> None:
        """Every kind of thread on readable channels, and posts in forum/media channels."""
        spec = self.spec
        for channel in list(self.channels[gid]):
            if channel["id"] in self.unreadable or channel["id"] in self.no_history:
                continue
            kind = channel["type"]
            if kind == 0:
                plan = [
                    (11, False, spec.active_public_threads),
                    (11, True, spec.archived_public_threads),
                    (12, False, spec.active_private_threads),
                    (12, True, spec.archived_private_threads),
                ]
            elif kind == 5:
                plan = [
                    (10, False, min(1, spec.active_public_threads)),
                    (10, True, min(1, spec.archived_public_threads)),
                ]
            elif kind in (15, 16):
                self._forum_posts(r, gid, channel, users)
                continue
            else:
                continue
            for thread_type, archived, count in plan:
                for i in range(count):
                    self._thread(r, gid, channel, thread_type, archived, i, users)

    def _thread(
        self,
        r: random.Random,
        gid: str,
        parent: dict[str, Any],
        thread_type: int,
        archived: bool,
        index: int,
        users: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """One thread: from a parent message when one fits, else standalone."""
        start, stop = self._thread_window(r, parent, archived)
        parent_log = self.log(parent["id"])
        starter = None
        if thread_type != 12 and parent_log is not None:
            starter = _message_between(r, parent_log, start, stop)
        if starter is not None:
            thread_id = str(starter)
            start = snowflake_ms(starter)
            owner = self.factory.message(parent_log, starter, nested=True)["author"]
        else:
            thread_id = self.ids.at(start)
            owner = users[r.randrange(len(users))] if users else self.bot_user
        kind_name = {10: "news", 11: "thread", 12: "private"}[thread_type]
        name = f"{kind_name} {index + 1}: {'archived' if archived else 'ongoing'} discussion"
        thread = self._thread_object(thread_id, thread_type, gid, parent, name, owner, start)
        end = start + 6 * HOUR_MS if archived else self.end_ms - 90_000
        log = self._fill(thread, gid, self.spec.messages_per_thread, (start + 1000, end))
        if starter is not None and parent_log is not None:
            parent_log.threads[starter] = thread
            log.starter_of = (int(parent["id"]), starter)
            if len(log.ids):
                log.overrides[log.ids[0]] = self._starter_notice(log, parent, starter, owner)
        self._finish_thread(r, thread, log, archived, joined=(index == 0))
        return thread

    def _thread_window(
        self, r: random.Random, parent: dict[str, Any], archived: bool
    ) -> tuple[int, int]:
        """When a thread starts: days ago for archived ones, recently for active ones."""
        earliest = snowflake_ms(parent["id"]) + DAY_MS
        if archived:
            lo = max(earliest, self.end_ms - int(self.spec.span_days * DAY_MS))
            hi = max(lo + HOUR_MS, self.end_ms - 3 * DAY_MS)
        else:
            lo = max(earliest, self.end_ms - 7 * DAY_MS)
            hi = max(lo + HOUR_MS, self.end_ms - 2 * HOUR_MS)
        at = lo + int((hi - lo) * r.random())
        return at, hi

    def _thread_object(
        self,
        thread_id: str,
        thread_type: int,
        gid: str,
        parent: dict[str, Any],
        name: str,
        owner: dict[str, Any],
        start: int,
    ) -> dict[str, Any]:
        """A thread channel object with its metadata (archived state set later)."""
        metadata: dict[str, Any] = {
            "archived": False,
            "archive_timestamp": iso_from_ms(start),
            "auto_archive_duration": 1440,
            "locked": False,
            "create_timestamp": iso_from_ms(start),
        }
        if thread_type == 12:
            metadata["invitable"] = True
        thread: dict[str, Any] = {
            "id": thread_id,
            "type": thread_type,
            "last_message_id": None,
            "flags": 0,
            "guild_id": gid,
            "name": name,
            "parent_id": parent["id"],
            "rate_limit_per_user": 0,
            "bitrate": 64000,
            "user_limit": 0,
            "rtc_region": None,
            "owner_id": owner["id"],
            "thread_metadata": metadata,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
        }
        self.threads[gid].append(thread)
        self.index[thread_id] = thread
        self.guild_of[thread_id] = gid
        return thread

    def _finish_thread(
        self,
        r: random.Random,
        thread: dict[str, Any],
        log: MessageLog,
        archived: bool,
        joined: bool,
    ) -> None:
        """Counts, archive state and the bot's membership, once messages exist."""
        initial = 1 if (log.starter_of or thread.get("applied_tags") is not None) else 0
        thread["message_count"] = max(0, len(log.ids) - initial)
        thread["total_message_sent"] = thread["message_count"]
        thread["member_count"] = r.randint(1, 12)
        metadata = thread["thread_metadata"]
        if archived:
            last = snowflake_ms(log.ids[-1]) if len(log.ids) else snowflake_ms(thread["id"])
            duration = r.choice((60, 1440, 4320, 10080))
            if last + duration * 60_000 > self.end_ms - HOUR_MS:
                duration = 60
            metadata.update(
                archived=True,
                auto_archive_duration=duration,
                archive_timestamp=iso_from_ms(last + duration * 60_000),
                locked=r.random() < 0.2,
            )
        if joined:
            joined_at = snowflake_ms(thread["id"]) + 2_000
            self.thread_members[thread["id"]] = {
                "id": thread["id"],
                "user_id": self.bot_user["id"],
                "join_timestamp": iso_from_ms(joined_at),
                "flags": 1,
            }

    def _starter_notice(
        self, log: MessageLog, parent: dict[str, Any], starter: int, owner: dict[str, Any]
    ) -> dict[str, Any]:
        """Type 21: the first message of a thread started from a message."""
        message_id = log.ids[0]
        return _plain_message(
            message_id,
            log.channel_id,
            owner,
            "",
            type=21,
            message_reference={
                "type": 0,
                "channel_id": parent["id"],
                "message_id": str(starter),
                "guild_id": log.guild_id,
            },
        )

    def _forum_posts(
        self, r: random.Random, gid: str, forum: dict[str, Any], users: list[dict[str, Any]]
    ) -> None:
        """Forum/media posts: threads whose id is their first message's id."""
        for i in range(self.spec.forum_posts):
            archived = i % 3 == 2
            start, _ = self._thread_window(r, forum, archived)
            owner = users[r.randrange(len(users))] if users else self.bot_user
            ordinal = self._next_ordinal()
            thread_id = str(make_snowflake(start, ordinal % 32, (ordinal // 32) % 32, 0))
            name = ("How do I page messages? 🤔", "Feature: dark mode", "Bug: 18→19 digit ids")[
                i % 3
            ]
            thread = self._thread_object(thread_id, 11, gid, forum, name, owner, start)
            thread["applied_tags"] = [forum["available_tags"][i % 3]["id"]]
            thread["flags"] = 2 if i == 0 else 0
            end = start + 6 * HOUR_MS if archived else self.end_ms - 90_000
            rest = spread_ids(start + 1000, end, max(0, self.spec.messages_per_thread - 1), ordinal)
            log = MessageLog(thread, gid, ordinal, [int(thread_id), *rest])
            self.factory.logs[int(thread_id)] = log
            body = f"{name}\n\nDetails inside — ünïcödé ✓ and a list:\n- one\n- two"
            log.overrides[int(thread_id)] = _plain_message(
                int(thread_id), log.channel_id, owner, body
            )
            thread["last_message_id"] = str(log.ids[-1])
            self._finish_thread(r, thread, log, archived, joined=False)
        posts = [t for t in self.threads[gid] if t["parent_id"] == forum["id"]]
        if posts:
            forum["last_message_id"] = max(posts, key=lambda t: int(t["id"]))["id"]

    # invites and events ---------------------------------------------------------------

    def _invites(
        self, r: random.Random, gid: str, guild: dict[str, Any], users: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Live invites to text channels, with metadata (shown only with Manage Server)."""
        targets = [
            c
            for c in self.channels[gid]
            if c["type"] in (0, 2, 5) and c["id"] not in self.unreadable
        ]
        out = []
        for i in range(self.spec.invites if targets else 0):
            channel = targets[i % len(targets)]
            created = self.end_ms - r.randint(1, 20) * DAY_MS - r.randint(0, DAY_MS)
            max_age = r.choice((0, 0, 2_592_000, 604_800 * 4))
            expires = None if max_age == 0 else iso_from_ms(created + max_age * 1000)
            code = "".join(r.choice(string.ascii_letters + string.digits) for _ in range(8))
            max_uses = r.choice((0, 0, 10, 100))
            out.append(
                {
                    "type": 0,
                    "code": code,
                    "inviter": users[r.randrange(len(users))],
                    "expires_at": expires,
                    "flags": 0,
                    "guild": _invite_guild(guild),
                    "guild_id": gid,
                    "channel": {
                        "id": channel["id"],
                        "type": channel["type"],
                        "name": channel["name"],
                    },
                    "uses": r.randint(0, max_uses or 50),
                    "max_uses": max_uses,
                    "max_age": max_age,
                    "temporary": i % 5 == 4,
                    "created_at": iso_from_ms(created),
                }
            )
        return out

    def _events(
        self, r: random.Random, gid: str, users: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Scheduled events: voice, stage and external; scheduled or active."""
        voice = next((c for c in self.channels[gid] if c["type"] == 2), None)
        stage = next((c for c in self.channels[gid] if c["type"] == 13), None)
        out = []
        for i in range(self.spec.scheduled_events):
            creator = users[r.randrange(len(users))]
            created = self.end_ms - r.randint(2, 30) * DAY_MS
            start = self.end_ms + r.randint(1, 30) * DAY_MS if i % 3 != 1 else created + DAY_MS
            kind_channel = (voice, None, stage)[i % 3]
            entity_type = 3 if kind_channel is None else (2 if kind_channel is voice else 1)
            event = {
                "id": self.ids.at(created),
                "guild_id": gid,
                "channel_id": kind_channel["id"] if kind_channel else None,
                "creator_id": creator["id"],
                "name": ("Game night 🎮", "Release party", "AMA with the team")[i % 3],
                "description": "Join us!\nBring snacks.",
                "scheduled_start_time": iso_from_ms(start),
                "scheduled_end_time": iso_from_ms(start + 2 * HOUR_MS)
                if entity_type == 3
                else None,
                "privacy_level": 2,
                "status": 2 if start <= self.end_ms else 1,
                "entity_type": entity_type,
                "entity_id": None,
                "entity_metadata": {"location": "https://example.com/live"}
                if entity_type == 3
                else None,
                "recurrence_rule": None,
                "creator": creator,
                "image": None,
                "guild_scheduled_event_exceptions": [],
                "user_count": r.randint(0, 40),
            }
            out.append(event)
        return out


def _first_is_dict(values: list[Any]) -> bool:
    return bool(values) and isinstance(values[0], dict)


def _put_nul(obj: dict[str, Any], key: str) -> None:
    """A NUL inside `obj[key]` (text added where it was empty or absent)."""
    obj[key] = f"{obj.get(key) or 'text'}{NUL}NUL"


def _end_ms(spec: WorldSpec) -> int:
    """The world's "now", to the second."""
    if spec.end_time is not None:
        return int(spec.end_time.timestamp() * 1000)
    return now_ms() // 1000 * 1000


def _boundary_index(counts: Sequence[int]) -> int:
    """The text channel whose messages straddle the 18→19 digit boundary (-1 if none)."""
    for i in range(len(counts) - 1, -1, -1):
        if counts[i] >= 2:
            return i
    return -1


def _message_between(r: random.Random, log: MessageLog, start: int, stop: int) -> int | None:
    """A random message id of `log` created in [start, stop), if any."""
    lo = bisect.bisect_left(log.base, make_snowflake(start))
    hi = bisect.bisect_left(log.base, make_snowflake(stop))
    candidates = [mid for mid in log.base[lo:hi] if mid not in log.threads]
    return candidates[r.randrange(len(candidates))] if candidates else None


def _plain_message(
    message_id: int, channel_id: int, author: dict[str, Any], content: str, **extra: Any
) -> dict[str, Any]:
    """A hand-made message with every always-present field (for overrides)."""
    msg: dict[str, Any] = {
        "type": 0,
        "content": content,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "timestamp": iso_from_ms(snowflake_ms(message_id)),
        "edited_timestamp": None,
        "flags": 0,
        "components": [],
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": author,
        "pinned": False,
        "mention_everyone": False,
        "tts": False,
    }
    msg.update(extra)
    return msg


def _invite_guild(guild: dict[str, Any]) -> dict[str, Any]:
    """The partial guild inside an invite."""
    keys = (
        "id",
        "name",
        "splash",
        "banner",
        "description",
        "icon",
        "features",
        "verification_level",
        "vanity_url_code",
        "nsfw_level",
        "nsfw",
        "premium_subscription_count",
    )
    return {k: guild[k] for k in keys}


def _guild_object(
    gid: str,
    g: int,
    owner_id: str,
    roles: list[dict[str, Any]],
    emojis: list[dict[str, Any]],
    stickers: list[dict[str, Any]],
    members: list[dict[str, Any]],
) -> dict[str, Any]:
    """A full guild object (counts included; the server drops them without with_counts)."""
    names = ("Singer Taps HQ", "Ünïcödé Café ☕", "Data Engineers", "Night Owls 🦉")
    return {
        "id": gid,
        "name": names[g % len(names)] + ("" if g < len(names) else f" {g}"),
        "icon": f"{int(gid) * 2654435761 % (1 << 128):032x}",
        "description": "A guild generated by the tap-discord emulator",
        "home_header": None,
        "splash": None,
        "discovery_splash": None,
        "features": ["COMMUNITY", "NEWS", "THREADS_ENABLED"] if g % 2 == 0 else [],
        "banner": None,
        "owner_id": owner_id,
        "application_id": None,
        "region": "deprecated",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": 1,
        "roles": roles,
        "default_message_notifications": 1,
        "mfa_level": 0,
        "explicit_content_filter": 2,
        "max_presences": None,
        "max_members": 500000,
        "max_stage_video_channel_users": 50,
        "max_video_channel_users": 25,
        "vanity_url_code": None,
        "premium_tier": 1,
        "premium_subscription_count": 3,
        "preferred_locale": "en-US",
        "rules_channel_id": None,
        "safety_alerts_channel_id": None,
        "public_updates_channel_id": None,
        "premium_progress_bar_enabled": False,
        "nsfw": False,
        "nsfw_level": 0,
        "emojis": emojis,
        "stickers": stickers,
        "incidents_data": None,
        "approximate_member_count": len(members),
        "approximate_presence_count": max(1, len(members) // 3),
    }


def _application_object(app_id: str, bot: dict[str, Any]) -> dict[str, Any]:
    """`GET /applications/@me` (flags are filled in per request)."""
    return {
        "id": app_id,
        "name": "Tap Discord",
        "icon": bot["avatar"],
        "description": "Reads guild history for the data warehouse.",
        "summary": "",
        "type": None,
        "hook": True,
        "bot_public": False,
        "bot_require_code_grant": False,
        "verify_key": "5b0c3f0d6f5e4c8a9b1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b",
        "flags": 0,
        "owner": {k: v for k, v in bot.items() if k != "bot"} | {"id": str(int(app_id) - 1)},
        "team": None,
        "bot": bot,
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "approximate_guild_count": 0,
        "integration_types_config": {"0": {}},
        "install_params": {"scopes": ["bot"], "permissions": "68608"},
    }
