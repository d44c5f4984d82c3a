"""A deterministic Discord world: guilds, channels, threads, messages, members, invites.

Ids are real snowflakes (creation time in the top 42 bits, Discord epoch), so date
cursors select the same rows as on Discord. Objects carry the fields of
`../shared/discord-api.md` §8, as a bot with every permission would see them.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
from dataclasses import dataclass, field
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000
UTC = dt.timezone.utc


def snowflake_at(ms: int, seq: int) -> int:
    """A snowflake created at unix time `ms` with increment `seq`."""
    return ((ms - DISCORD_EPOCH_MS) << 22) | (1 << 17) | (seq & 0xFFF)


def iso(ms: int) -> str:
    """Discord's timestamp format, e.g. 2017-07-11T17:27:07.299000+00:00."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="microseconds")


def ms_of(snowflake: int | str) -> int:
    """Unix ms encoded in a snowflake."""
    return (int(snowflake) >> 22) + DISCORD_EPOCH_MS


@dataclass
class WorldSpec:
    """What to generate. Presets: `small()`, `demo()`."""

    seed: int = 7
    guilds: int = 2
    #: Messages per text channel; the list length is the number of text channels.
    text_channel_messages: list[int] = field(default_factory=lambda: [0, 100, 101, 250])
    threads_per_kind: int = 1
    messages_per_thread: int = 12
    members: int = 1500
    invites: int = 3
    roles: int = 4
    unreadable_channels: int = 1
    no_history_channels: int = 1
    #: Message timestamps spread over this many days before now.
    span_days: float = 400.0
    members_intent: bool = True
    message_content_intent: bool = True
    manage_guild: bool = True
    manage_threads: bool = True

    @classmethod
    def small(cls) -> WorldSpec:
        """Fast tests: empty, exactly-100, 101 and a 250-message channel, every thread kind."""
        return cls()

    @classmethod
    def demo(cls) -> WorldSpec:
        """The README demo guild."""
        return cls(guilds=1, text_channel_messages=[120, 300, 45, 0, 80], members=250)


class World:
    """Ground truth. Lists are the objects as the API returns them to the bot."""

    def __init__(self, spec: WorldSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.lock = threading.RLock()
        self.now_ms = int(dt.datetime.now(UTC).timestamp() * 1000)
        self._seq = 0
        self.bot_user = self.user(name="tap-bot", bot=True, ms=self.now_ms - 900 * 86_400_000)
        self.application = {"id": self.bot_user["id"], "name": "tap-bot", "flags": 0}
        self.guilds: list[dict[str, Any]] = []
        self.channels: dict[str, list[dict[str, Any]]] = {}
        self.threads: dict[str, list[dict[str, Any]]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.members: dict[str, list[dict[str, Any]]] = {}
        self.invites: dict[str, list[dict[str, Any]]] = {}
        self.roles: dict[str, list[dict[str, Any]]] = {}
        self.unreadable: set[str] = set()
        self.no_history: set[str] = set()
        self.users: list[dict[str, Any]] = []
        self._build()

    # ids ------------------------------------------------------------------------------

    def new_id(self, ms: int) -> str:
        """A fresh snowflake for an object created at `ms`."""
        self._seq += 1
        return str(snowflake_at(ms, self._seq))

    def user(self, *, name: str, bot: bool = False, ms: int) -> dict[str, Any]:
        """A user object (§8.3)."""
        return {
            "id": self.new_id(ms),
            "username": name,
            "discriminator": "0",
            "global_name": name.title(),
            "avatar": f"{self.rng.getrandbits(64):016x}",
            "bot": bot,
            "public_flags": 0,
            "avatar_decoration_data": None,
        }

    # generation -----------------------------------------------------------------------

    def _build(self) -> None:
        day = 86_400_000
        start_ms = self.now_ms - int(self.spec.span_days * day)
        self.users = [self.user(name=f"user{i}", ms=start_ms - day * 10 + i) for i in range(40)]
        for g in range(self.spec.guilds):
            # The first guild dates from 2016, so its early ids have 18 digits.
            created = DISCORD_EPOCH_MS + 400 * day if g == 0 else start_ms - 30 * day
            self._build_guild(g, created, start_ms)

    def _build_guild(self, index: int, created: int, start_ms: int) -> None:
        gid = self.new_id(created)
        roles = [self._role(gid, "@everyone", 0, gid)]
        roles += [self._role(gid, f"role-{i}", i + 1) for i in range(self.spec.roles - 1)]
        self.roles[gid] = roles
        self.guilds.append(self._guild(gid, f"Guild {index}", roles))
        channels: list[dict[str, Any]] = []
        category = self._channel(gid, 4, "Text Channels", created + 1000, None)
        channels.append(category)
        counts = self.spec.text_channel_messages
        text_channels = []
        for i, count in enumerate(counts):
            ch = self._channel(gid, 0, f"text-{i}", created + 2000 + i, category["id"])
            channels.append(ch)
            text_channels.append(ch)
            # One channel of the old guild straddles the 18→19 digit boundary.
            begin = created + 3000 if (index == 0 and i == len(counts) - 1) else start_ms
            self._fill(ch, count, begin)
        for kind, name in ((2, "voice"), (5, "announcements"), (13, "stage"), (15, "forum")):
            ch = self._channel(gid, kind, name, created + 5000 + kind, None)
            channels.append(ch)
            self._fill(ch, 3 if kind in (2, 5) else 0, start_ms)
        for i in range(self.spec.unreadable_channels):
            ch = self._channel(gid, 0, f"staff-only-{i}", created + 6000 + i, category["id"])
            self._fill(ch, 30, start_ms)
            self.unreadable.add(ch["id"])
            channels.append(ch)
        for i in range(self.spec.no_history_channels):
            ch = self._channel(gid, 0, f"no-history-{i}", created + 7000 + i, category["id"])
            self._fill(ch, 20, start_ms)
            self.no_history.add(ch["id"])
            channels.append(ch)
        self.channels[gid] = channels
        self.threads[gid] = self._threads(gid, channels, start_ms)
        self.members[gid] = self._members(gid, roles, created)
        self.invites[gid] = self._invites(gid, text_channels)

    def _guild(self, gid: str, name: str, roles: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": gid,
            "name": name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": f"{name} for tests",
            "vanity_url_code": None,
            "owner_id": self.users[0]["id"],
            "application_id": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "widget_channel_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "mfa_level": 0,
            "nsfw_level": 0,
            "nsfw": False,
            "preferred_locale": "en-US",
            "roles": roles,
            "emojis": [],
            "stickers": [],
            "features": ["COMMUNITY"],
            "max_presences": None,
            "max_members": 500000,
            "premium_tier": 1,
            "premium_subscription_count": 3,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "premium_progress_bar_enabled": False,
            "incidents_data": None,
            "approximate_member_count": self.spec.members,
            "approximate_presence_count": self.spec.members // 3,
        }

    def _role(self, gid: str, name: str, position: int, rid: str | None = None) -> dict[str, Any]:
        role: dict[str, Any] = {
            "id": rid or self.new_id(ms_of(gid) + position + 1),
            "name": name,
            "color": 0 if position == 0 else 0x3498DB,
            "hoist": position > 0,
            "icon": None,
            "unicode_emoji": None,
            "position": position,
            "permissions": "104324673" if position == 0 else "2147483647",
            "managed": False,
            "mentionable": position > 0,
            "flags": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        }
        if position == 1:
            role["tags"] = {"premium_subscriber": None}
        return role

    def _channel(self, gid: str, kind: int, name: str, ms: int, parent: str | None) -> dict:
        ch: dict[str, Any] = {
            "id": self.new_id(ms),
            "type": kind,
            "guild_id": gid,
            "name": name,
            "position": kind,
            "permission_overwrites": [],
            "parent_id": parent,
            "nsfw": False,
            "flags": 0,
        }
        if kind in (0, 5, 15):
            ch.update(
                topic=f"About {name}",
                rate_limit_per_user=0,
                last_message_id=None,
                default_auto_archive_duration=1440,
                last_pin_timestamp=None,
            )
        if kind in (2, 13):
            ch.update(
                bitrate=64000,
                user_limit=0,
                rtc_region=None,
                last_message_id=None,
                rate_limit_per_user=0,
            )
        if kind == 15:
            ch.update(
                available_tags=[],
                default_reaction_emoji=None,
                default_sort_order=None,
                default_forum_layout=0,
                default_thread_rate_limit_per_user=0,
            )
        return ch

    def _fill(self, channel: dict[str, Any], count: int, begin_ms: int) -> None:
        """Give a channel `count` messages spread from `begin_ms` to a bit before now."""
        messages = self.messages.setdefault(channel["id"], [])
        end_ms = self.now_ms - 60_000
        for i in range(count):
            ms = begin_ms + (end_ms - begin_ms) * i // max(count, 1)
            messages.append(self._message(channel, ms, i, messages))
        if messages:
            channel["last_message_id"] = messages[-1]["id"]

    def _message(self, channel: dict[str, Any], ms: int, i: int, earlier: list[dict]) -> dict:
        author = self.users[i % len(self.users)]
        content = ["hello", "ünïcödé ✓ 🎉", "line one\nline two", f"message {i}"][i % 4]
        if i == 7:
            content = "has a NUL \u0000 inside"
        msg: dict[str, Any] = {
            "id": self.new_id(ms),
            "channel_id": channel["id"],
            "author": author,
            "content": content,
            "timestamp": iso(ms),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": i % 50 == 3,
            "type": 0,
            "flags": 0,
            "components": [],
        }
        if i % 5 == 1:
            msg["reactions"] = [
                {
                    "count": 2,
                    "count_details": {"burst": 0, "normal": 2},
                    "me": False,
                    "me_burst": False,
                    "emoji": {"id": None, "name": "👍"},
                    "burst_colors": [],
                }
            ]
        if i % 9 == 2:
            msg["attachments"] = [
                {
                    "id": self.new_id(ms),
                    "filename": "a.png",
                    "size": 1234,
                    "url": "https://cdn.discordapp.com/a.png?ex=1&is=2&hm=3",
                    "proxy_url": "https://media.discordapp.net/a.png",
                    "content_type": "image/png",
                    "height": 10,
                    "width": 10,
                }
            ]
        if i % 11 == 4 and earlier:
            ref = earlier[-1]
            msg["type"] = 19
            msg["message_reference"] = {
                "type": 0,
                "message_id": ref["id"],
                "channel_id": channel["id"],
                "guild_id": channel["guild_id"],
            }
            msg["referenced_message"] = {k: v for k, v in ref.items() if k != "referenced_message"}
        if i % 13 == 6:
            msg["edited_timestamp"] = iso(ms + 5000)
        if i % 17 == 8:
            msg["mentions"] = [self.bot_user]
        return msg

    def _threads(self, gid: str, channels: list[dict[str, Any]], start_ms: int) -> list[dict]:
        threads = []
        parents = [
            c for c in channels if c["type"] in (0, 5, 15) and c["id"] not in self.unreadable
        ]
        text = [c for c in parents if c["type"] == 0 and c["id"] not in self.no_history]
        forum = [c for c in parents if c["type"] == 15]
        plan = []
        if text:
            host = text[-1]
            plan += [(host, 11, False), (host, 11, True), (host, 12, True), (host, 12, False)]
        plan += [(c, 11, False) for c in forum]
        for n, (parent, kind, archived) in enumerate(plan * self.spec.threads_per_kind):
            ms = start_ms + (n + 1) * 3_600_000
            thread = {
                "id": self.new_id(ms),
                "type": kind,
                "guild_id": gid,
                "parent_id": parent["id"],
                "owner_id": self.users[n % len(self.users)]["id"],
                "name": f"thread-{n}",
                "last_message_id": None,
                "message_count": 0,
                "member_count": 2,
                "rate_limit_per_user": 0,
                "flags": 0,
                "total_message_sent": 0,
                "applied_tags": [],
                "thread_metadata": {
                    "archived": archived,
                    "auto_archive_duration": 1440,
                    "archive_timestamp": iso(ms + 86_400_000 if archived else ms),
                    "locked": False,
                    "create_timestamp": iso(ms),
                    **({"invitable": True} if kind == 12 else {}),
                },
            }
            self._fill(thread, self.spec.messages_per_thread, ms + 1000)
            thread["message_count"] = thread["total_message_sent"] = self.spec.messages_per_thread
            threads.append(thread)
        return threads

    def _members(self, gid: str, roles: list[dict], created: int) -> list[dict[str, Any]]:
        members = []
        for i in range(self.spec.members):
            user = self.users[i] if i < len(self.users) else self.user(name=f"m{i}", ms=created + i)
            members.append(
                {
                    "user": user,
                    "nick": None if i % 3 else f"nick{i}",
                    "avatar": None,
                    "banner": None,
                    "roles": [roles[-1]["id"]] if i % 4 == 0 else [],
                    "joined_at": iso(created + 1000 * i),
                    "premium_since": None,
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                    "pending": False,
                    "communication_disabled_until": None,
                }
            )
        members.sort(key=lambda m: int(m["user"]["id"]))
        return members

    def _invites(self, gid: str, channels: list[dict[str, Any]]) -> list[dict[str, Any]]:
        invites = []
        for i in range(self.spec.invites):
            ch = channels[i % len(channels)]
            invites.append(
                {
                    "type": 0,
                    "code": f"inv{self.rng.getrandbits(32):08x}",
                    "guild": {"id": gid, "name": "guild"},
                    "guild_id": gid,
                    "channel": {"id": ch["id"], "name": ch["name"], "type": ch["type"]},
                    "inviter": self.users[i],
                    "expires_at": None,
                    "flags": 0,
                    "uses": i,
                    "max_uses": 0,
                    "max_age": 0,
                    "temporary": False,
                    "created_at": iso(self.now_ms - 86_400_000 * (i + 1)),
                }
            )
        return invites

    # live changes ---------------------------------------------------------------------

    def find_channel(self, channel_id: str) -> dict[str, Any] | None:
        """A guild channel or thread by id."""
        for lists in (self.channels, self.threads):
            for items in lists.values():
                for item in items:
                    if item["id"] == channel_id:
                        return item
        return None

    def add_messages(self, channel_id: str, count: int) -> list[dict[str, Any]]:
        """Post `count` new messages now (ids above every existing one)."""
        with self.lock:
            channel = self.find_channel(channel_id)
            assert channel is not None, channel_id
            messages = self.messages.setdefault(channel_id, [])
            now = int(dt.datetime.now(UTC).timestamp() * 1000)
            new = [self._message(channel, now, len(messages) + i, messages) for i in range(count)]
            messages.extend(new)
            channel["last_message_id"] = messages[-1]["id"]
            return new
