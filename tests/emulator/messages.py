"""Message storage and generation: compact enough for a million messages.

A channel's messages are an array of ids; each message object is generated on
demand from its id and the world seed, so the same id always yields the same
message. Only what differs from the generator is stored: edits, deletions and a
few hand-made messages (thread starters, the NUL message, ...). Serialized pages
are cached by channel version, so serving a page is mostly a dictionary lookup.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import hashlib
import queue
import random
import struct
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from tests.emulator.snowflakes import iso_from_ms, make_snowflake, snowflake_ms

_SEED = random.Random.__base__.seed  # the C seeding, without the Python wrapper
MASK64 = (1 << 64) - 1
FANCY_SHARE = 0.35
"""Share of generated messages with extras; the rest are plain and served from a template."""
FANCY_CUT = int(FANCY_SHARE * 0x10000)
HAS_THREAD = 1 << 5
SUPPRESS_EMBEDS = 1 << 2
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_VOICE_MESSAGE = 1 << 13
HAS_SNAPSHOT = 1 << 14
REFERENCING_TYPES = frozenset({19, 21, 23})
"""Types that carry `referenced_message` (https://discord.com/developers/docs/resources/message#message-object)."""

WORDS = [
    "deploy",
    "ship",
    "merge",
    "review",
    "build",
    "tests",
    "flaky",
    "green",
    "red",
    "coffee",
    "lunch",
    "meeting",
    "notes",
    "docs",
    "release",
    "branch",
    "rebase",
    "cache",
    "latency",
    "pager",
    "alert",
    "retro",
    "sprint",
    "ticket",
    "roadmap",
    "design",
    "schema",
    "backfill",
    "cursor",
    "snowflake",
    "bucket",
    "window",
    "retry",
    "thread",
    "forum",
    "guild",
    "emoji",
]

SPECIAL_CONTENTS = (
    "Ünïcödé façade — naïve café ✓",
    "日本語のテキストと中文字符 및 한국어",
    "emoji 🎉🔥👍🏽 and a family 👨‍👩‍👧‍👦 (ZWJ)",
    "line one\nline two\n\nline four after a blank",
    "```py\nprint('hello')\n```",
    "quotes \"double\" and 'single' and `back` ticks",
    "a backslash \\ and C:\\path\\to\\file.txt",
    "tab\tseparated\tvalues",
    "right-to-left: مرحبا بالعالم",
    "<script>alert('x')</script> & <b>html</b>",
    "trailing spaces   ",
    "",
)

ATTACHMENT_KINDS = (
    ("screenshot.png", "image/png", True),
    ("report final (2).pdf", "application/pdf", False),
    ("clip.mp4", "video/mp4", True),
    ("notes.txt", "text/plain; charset=utf-8", False),
    ("photo.jpeg", "image/jpeg", True),
)

REACTION_EMOJIS = ("👍", "🎉", "😂", "❤️", "👀", "🚀")


class MessageLog:
    """The messages of one channel or thread: ascending ids plus stored differences."""

    __slots__ = (
        "base",
        "channel",
        "channel_id",
        "deleted",
        "guild_id",
        "ids",
        "is_thread",
        "ordinal",
        "overrides",
        "starter_of",
        "threads",
        "total_sent",
        "version",
    )

    def __init__(
        self, channel: dict[str, Any], guild_id: str, ordinal: int, ids: Sequence[int]
    ) -> None:
        """`ids` ascending; `ordinal` picks the worker/process bits of new ids."""
        self.channel = channel
        self.channel_id = int(channel["id"])
        self.guild_id = guild_id
        self.ordinal = ordinal
        self.is_thread = channel["type"] in (10, 11, 12)
        self.base = array("q", ids)
        self.ids = array("q", ids)
        self.deleted: set[int] = set()
        self.overrides: dict[int, dict[str, Any]] = {}
        #: message id -> thread started from it (live thread object)
        self.threads: dict[int, dict[str, Any]] = {}
        #: for a thread started from a message: (parent channel id, message id)
        self.starter_of: tuple[int, int] | None = None
        self.total_sent = len(ids)
        self.version = 0

    def __contains__(self, message_id: object) -> bool:
        """Whether a message id is currently in the channel (not deleted)."""
        if not isinstance(message_id, int):
            return False
        i = bisect.bisect_left(self.ids, message_id)
        return i < len(self.ids) and self.ids[i] == message_id

    def base_index(self, message_id: int) -> int:
        """Position of a generated id in the original history; -1 if it is not one."""
        i = bisect.bisect_left(self.base, message_id)
        return i if i < len(self.base) and self.base[i] == message_id else -1

    @property
    def worker_bits(self) -> tuple[int, int]:
        """(worker, process) used for this channel's ids, unique per channel."""
        return self.ordinal % 32, (self.ordinal // 32) % 32


@dataclass
class GuildPool:
    """What messages of one guild draw from: authors, roles, stickers, emojis."""

    guild_id: str
    authors: list[dict[str, Any]]
    role_ids: list[str]
    stickers: list[dict[str, Any]]
    emojis: list[dict[str, Any]]
    webhooks: list[dict[str, Any]] = field(default_factory=list)


class MessageFactory:
    """Builds message objects from ids, applies Message Content gating, caches pages."""

    def __init__(
        self,
        seed: int,
        bot_user: dict[str, Any],
        application_id: str,
        end_ms: int,
        richness: float = 1.0,
    ) -> None:
        """The world wires in its logs and pools after generating them."""
        self.seed = seed
        self.salt = (seed * 0x9E3779B97F4A7C15) & ((1 << 61) - 1)
        self.bot_user = bot_user
        self.bot_id = bot_user["id"]
        self.application_id = application_id
        self.end_ms = end_ms
        self.richness = richness
        self.logs: dict[int, MessageLog] = {}
        #: channel id -> {pinned message id: pinned_at ms} (social.py keeps it)
        self.pins: dict[int, dict[int, int]] = {}
        self.pools: dict[str, GuildPool] = {}
        self.lock = threading.RLock()
        self.cache = PageCache(max_bytes=192 * 1024 * 1024)
        self.sentences = make_sentences(random.Random(seed), 4096)
        self._sentence_json = [dumps_str(text) for text in self.sentences]
        self._author_json: dict[str, str] = {}
        self.fancy_rich = richness / FANCY_SHARE
        self._shared_rng = random.Random()
        self._prefetch_queue: queue.Queue[tuple] = queue.Queue(maxsize=64)
        self._prefetcher: threading.Thread | None = None
        self._rng_busy = False

    # building -------------------------------------------------------------------------

    def message(self, log: MessageLog, message_id: int, nested: bool = False) -> dict[str, Any]:
        """The full message (every permission, intent on) as the API would return it."""
        stored = log.overrides.get(message_id)
        mixed = mix64(message_id ^ self.salt)
        if stored is not None:
            msg = dict(stored)
        elif mixed & 0xFFFF >= FANCY_CUT:
            msg = self._plain(log, message_id, mixed)
        elif self._rng_busy:
            msg = self._generate(log, message_id, mixed)
        else:
            self._rng_busy = True
            try:
                msg = self._generate(log, message_id, mixed)
            finally:
                self._rng_busy = False
        thread = log.threads.get(message_id)
        if thread is not None:
            msg["thread"] = thread
            msg["flags"] = msg["flags"] | HAS_THREAD
        if msg["type"] in REFERENCING_TYPES and not nested:
            msg["referenced_message"] = self._referenced(msg.get("message_reference"))
        msg["pinned"] = message_id in self.pins.get(log.channel_id, ())
        return msg

    def _referenced(self, reference: dict[str, Any] | None) -> dict[str, Any] | None:
        """The replied-to message, or null once it has been deleted."""
        if not reference or "message_id" not in reference:
            return None
        target = self.logs.get(int(reference["channel_id"]))
        message_id = int(reference["message_id"])
        if target is None or message_id not in target:
            return None
        return self.message(target, message_id, nested=True)

    def _plain(self, log: MessageLog, message_id: int, mixed: int) -> dict[str, Any]:
        """A plain text message by a member (most messages): no extras at all."""
        pool = self.pools[log.guild_id]
        return {
            "type": 0,
            "content": self.sentences[(mixed >> 40) % len(self.sentences)],
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "timestamp": iso_from_ms(snowflake_ms(message_id)),
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
            "id": str(message_id),
            "channel_id": str(log.channel_id),
            "author": pool.authors[(mixed >> 16) % len(pool.authors)],
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
        }

    def _plain_json(self, log: MessageLog, message_id: int, mixed: int, gated: bool) -> str:
        """`_plain` serialized from cached fragments (the hot path of big pages)."""
        pool = self.pools[log.guild_id]
        author = pool.authors[(mixed >> 16) % len(pool.authors)]
        author_json = self._author_json.get(author["id"])
        if author_json is None:
            author_json = self._author_json[author["id"]] = dumps_str(author)
        index = (mixed >> 40) % len(self.sentences)
        content = '""' if gated else self._sentence_json[index]
        return (
            f'{{"type":0,"content":{content},"mentions":[],"mention_roles":[],'
            f'"attachments":[],"embeds":[],"timestamp":"{iso_from_ms(snowflake_ms(message_id))}",'
            f'"edited_timestamp":null,"flags":0,"components":[],"id":"{message_id}",'
            f'"channel_id":"{log.channel_id}","author":{author_json},"pinned":false,'
            f'"mention_everyone":false,"tts":false}}'
        )

    def message_json(self, log: MessageLog, message_id: int, gated: bool) -> str:
        """One message as JSON text, as served (gated when the intent is off)."""
        if (
            message_id not in log.overrides
            and message_id not in log.threads
            and message_id not in self.pins.get(log.channel_id, ())
        ):
            mixed = mix64(message_id ^ self.salt)
            if mixed & 0xFFFF >= FANCY_CUT:
                return self._plain_json(log, message_id, mixed, gated)
        msg = self.message(log, message_id)
        return dumps_str(self.gate(msg) if gated else msg)

    def _generate(self, log: MessageLog, message_id: int, mixed: int) -> dict[str, Any]:
        """A message with extras (type, replies, files, ...), a pure function of its id."""
        r = self._rng(mixed)
        ms = snowflake_ms(message_id)
        pool = self.pools[log.guild_id]
        rich = self.fancy_rich
        roll = r.random()
        author = self._author(r, pool)
        msg: dict[str, Any] = {
            "type": 0,
            "content": self._content(r, message_id),
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "timestamp": iso_from_ms(ms),
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
            "id": str(message_id),
            "channel_id": str(log.channel_id),
            "author": author,
            "pinned": r.random() < 0.01 * rich,
            "mention_everyone": False,
            "tts": False,
        }
        base_index = log.base_index(message_id)
        if roll < 0.10 * rich and base_index >= 1:
            self._make_reply(r, msg, log, base_index)
        elif roll < 0.11 * rich:
            msg.update(type=7, content="")
        elif roll < 0.115 * rich and base_index >= 1:
            self._make_pin_notice(msg, log, base_index)
        elif roll < 0.125 * rich:
            self._make_command(r, msg, log)
        elif roll < 0.13 * rich and base_index >= 1:
            self._make_forward(msg, log, base_index)
        elif roll < 0.14 * rich and pool.webhooks:
            self._make_webhook(r, msg, pool)
        if msg["type"] in (0, 19):
            self._decorate(r, msg, pool, ms)
        if base_index < 0:  # posted while serving: nobody has reacted or voted yet
            msg.pop("reactions", None)
            msg.pop("poll", None)
        if msg["type"] == 0 and r.random() < 0.004 * rich:
            self.make_voice_message(r, msg, ms)
        return msg

    def make_voice_message(self, r: random.Random, msg: dict[str, Any], ms: int) -> None:
        """A voice message: no text, one audio file with a float `duration_secs`.

        https://discord.com/developers/docs/resources/message#voice-messages
        """
        att_id = make_snowflake(ms, 30, 7, int(msg["id"]) & 0xFFF)
        path = f"attachments/{msg['channel_id']}/{att_id}/voice-message.ogg"
        # Discord's durations are 32-bit floats widened to 64 (4.480000019073486).
        seconds = struct.unpack("f", struct.pack("f", r.uniform(0.5, 120.0)))[0]
        msg.update(content="", embeds=[], components=[], mentions=[], mention_roles=[])
        msg["flags"] |= IS_VOICE_MESSAGE
        msg["attachments"] = [
            {
                "id": str(att_id),
                "filename": "voice-message.ogg",
                "size": r.randint(4_000, 400_000),
                "url": signed_url("https://cdn.discordapp.com/" + path, att_id, self.seed),
                "proxy_url": signed_url("https://media.discordapp.net/" + path, att_id, self.seed),
                "content_type": "audio/ogg",
                "duration_secs": seconds,
                "waveform": base64.b64encode(r.randbytes(64)).decode("ascii"),
            }
        ]

    def _rng(self, seed: int) -> random.Random:
        """A generator seeded for one message; reseeding one object is 4x cheaper than
        constructing one, and pages are built under the factory lock (no sharing)."""
        if self._rng_busy:
            return random.Random(seed)
        _SEED(self._shared_rng, seed)
        return self._shared_rng

    def _author(self, r: random.Random, pool: GuildPool) -> dict[str, Any]:
        """Mostly members; a few messages come from the bot itself."""
        if r.random() < 0.03 / FANCY_SHARE or not pool.authors:
            return self.bot_user
        return pick(r, pool.authors)

    def _content(self, r: random.Random, message_id: int) -> str:
        """Plain words most of the time, awkward text (unicode, newlines, ...) sometimes."""
        text = pick(r, self.sentences)
        return text + "?" if message_id % 7 == 0 and text.endswith(".") else text

    def _make_reply(
        self, r: random.Random, msg: dict[str, Any], log: MessageLog, base_index: int
    ) -> None:
        """Type 19: a reply to one of the few previous messages."""
        target = log.base[max(0, base_index - r.randint(1, 5))]
        msg["type"] = 19
        msg["message_reference"] = {
            "type": 0,
            "channel_id": str(log.channel_id),
            "message_id": str(target),
            "guild_id": log.guild_id,
        }

    def _make_pin_notice(self, msg: dict[str, Any], log: MessageLog, base_index: int) -> None:
        """Type 6: "X pinned a message", referencing the pinned one (no referenced_message)."""
        msg.update(type=6, content="")
        msg["message_reference"] = {
            "type": 0,
            "channel_id": str(log.channel_id),
            "message_id": str(log.base[base_index - 1]),
            "guild_id": log.guild_id,
        }

    def _make_command(self, r: random.Random, msg: dict[str, Any], log: MessageLog) -> None:
        """Type 20: the bot's answer to a slash command, with interaction metadata."""
        invoker = msg["author"]
        name = pick(r, ("stats", "ping", "report"))
        interaction_id = str(int(msg["id"]) - 4096)
        msg.update(
            type=20,
            author=self.bot_user,
            webhook_id=self.application_id,
            application_id=self.application_id,
            content=f"Result of /{name}: {r.randint(1, 999)} items",
        )
        msg["interaction_metadata"] = {
            "id": interaction_id,
            "type": 2,
            "user": invoker,
            "authorizing_integration_owners": {"0": log.guild_id},
            "name": name,
            "command_type": 1,
        }
        msg["interaction"] = {"id": interaction_id, "type": 2, "name": name, "user": invoker}
        msg["components"] = [_link_row("Open dashboard", f"https://example.com/{name}")]

    def _make_forward(self, msg: dict[str, Any], log: MessageLog, base_index: int) -> None:
        """A forwarded message: reference type 1 plus a snapshot, no content of its own."""
        source = log.base[base_index - 1]
        msg["content"] = ""
        msg["flags"] |= HAS_SNAPSHOT
        msg["message_reference"] = {
            "type": 1,
            "channel_id": str(log.channel_id),
            "message_id": str(source),
            "guild_id": log.guild_id,
        }
        snap = self.message(log, source, nested=True) if source in log else None
        inner = {
            "type": 0,
            "content": snap["content"] if snap else "forwarded text",
            "embeds": [],
            "attachments": [],
            "timestamp": iso_from_ms(snowflake_ms(source)),
            "edited_timestamp": None,
            "flags": 0,
            "mentions": [],
            "mention_roles": [],
            "components": [],
        }
        msg["message_snapshots"] = [{"message": inner}]

    def _make_webhook(self, r: random.Random, msg: dict[str, Any], pool: GuildPool) -> None:
        """A message posted by an integration webhook (its author is a fake user)."""
        hook = pick(r, pool.webhooks)
        msg["webhook_id"] = hook["id"]
        msg["author"] = {
            "id": hook["id"],
            "username": hook["name"],
            "avatar": hook["avatar"],
            "discriminator": "0000",
            "public_flags": 0,
            "flags": 0,
            "bot": True,
            "global_name": None,
            "clan": None,
            "primary_guild": None,
        }
        msg["content"] = f"[{hook['name']}] build #{r.randint(100, 9999)} passed"
        msg["embeds"] = [self._rich_embed(r, snowflake_ms(int(msg["id"])))]

    def _decorate(self, r: random.Random, msg: dict[str, Any], pool: GuildPool, ms: int) -> None:
        """Optional parts, each on a share of messages (mentions, files, embeds, ...)."""
        rich = self.fancy_rich
        if r.random() < 0.08 * rich and pool.authors:
            self._mention_users(r, msg, pool)
        if r.random() < 0.03 * rich:
            msg["mentions"].append(self.bot_user)
            msg["content"] = f"<@{self.bot_id}> {msg['content']}".rstrip()
        if r.random() < 0.03 * rich and pool.role_ids:
            role = pick(r, pool.role_ids)
            msg["mention_roles"] = [role]
            msg["content"] += f" <@&{role}>"
        if r.random() < 0.005 * rich:
            msg["mention_everyone"] = True
            msg["content"] = "@everyone " + msg["content"]
        if r.random() < 0.08 * rich:
            msg["attachments"] = self._attachments(r, msg, ms)
        if r.random() < 0.06 * rich:
            msg["embeds"] = [self._link_embed(r, ms)]
        if r.random() < 0.15 * rich:
            msg["reactions"] = self._reactions(r, pool)
        if r.random() < 0.02 * rich and pool.stickers:
            sticker = pick(r, pool.stickers)
            msg["sticker_items"] = [
                {k: sticker[k] for k in ("id", "name", "format_type")},
            ]
        if r.random() < 0.01 * rich:
            msg["poll"] = self._poll(r, ms)
        if msg["author"] is self.bot_user and r.random() < 0.5:
            msg["components"] = [_link_row("Details", "https://example.com/details")]
        if r.random() < 0.07 * rich:
            edited = ms + r.randint(5_000, 86_400_000)
            if edited <= self.end_ms:
                msg["edited_timestamp"] = iso_from_ms(edited)
        if r.random() < 0.01:
            msg["flags"] |= SUPPRESS_NOTIFICATIONS
        if msg["embeds"] and r.random() < 0.05:
            msg["flags"] |= SUPPRESS_EMBEDS

    def _mention_users(self, r: random.Random, msg: dict[str, Any], pool: GuildPool) -> None:
        """One or two user mentions, written into the content as Discord does."""
        users = [pick(r, pool.authors) for _ in range(r.randint(1, 2))]
        unique = list({u["id"]: u for u in users}.values())
        msg["mentions"] = unique
        msg["content"] += "".join(f" <@{u['id']}>" for u in unique)

    def _attachments(self, r: random.Random, msg: dict[str, Any], ms: int) -> list[dict]:
        """One or two files with signed, expiring CDN URLs."""
        files = []
        for k in range(1 + (r.random() < 0.2)):
            name, ctype, visual = pick(r, ATTACHMENT_KINDS)
            att_id = make_snowflake(ms, 30, k, int(msg["id"]) & 0xFFF)
            path = f"attachments/{msg['channel_id']}/{att_id}/{name.replace(' ', '_')}"
            item: dict[str, Any] = {
                "id": str(att_id),
                "filename": name.replace(" ", "_"),
                "size": r.randint(200, 8_000_000),
                "url": signed_url("https://cdn.discordapp.com/" + path, att_id, self.seed),
                "proxy_url": signed_url("https://media.discordapp.net/" + path, att_id, self.seed),
                "content_type": ctype,
                "content_scan_version": 2,
            }
            if visual:
                item.update(width=r.choice((640, 1280, 1920)), height=r.choice((360, 720, 1080)))
                item.update(placeholder="3PcNDYJ4h4B3d4h/d3d3dnd3iHh4eA==", placeholder_version=1)
            if r.random() < 0.1:
                item["description"] = "alt text: a chart going up and to the right"
            files.append(item)
        return files

    def _link_embed(self, r: random.Random, ms: int) -> dict[str, Any]:
        """An unfurled link (article) embed."""
        slug = pick(r, WORDS)
        return {
            "type": "article",
            "url": f"https://blog.example.com/{slug}",
            "title": f"All about {slug}",
            "description": "A long read about things that matter.\nSecond line.",
            "provider": {"name": "Example Blog"},
            "thumbnail": {
                "url": f"https://blog.example.com/{slug}.png",
                "proxy_url": f"https://images-ext-1.discordapp.net/external/{slug}.png",
                "width": 400,
                "height": 209,
                "flags": 0,
            },
            "content_scan_version": 2,
        }

    def _rich_embed(self, r: random.Random, ms: int) -> dict[str, Any]:
        """A bot-style rich embed with fields, footer and timestamp."""
        return {
            "type": "rich",
            "title": "Build report",
            "description": "All checks passed ✅",
            "color": int(r.random() * 0xFFFFFF),
            "timestamp": iso_from_ms(ms),
            "fields": [
                {"name": "Duration", "value": f"{r.randint(20, 900)} s", "inline": True},
                {"name": "Tests", "value": str(r.randint(10, 5000)), "inline": True},
            ],
            "footer": {"text": "ci.example.com"},
            "content_scan_version": 2,
        }

    def _reactions(self, r: random.Random, pool: GuildPool) -> list[dict[str, Any]]:
        """One to three reactions, unicode or custom guild emoji."""
        out = []
        used: set[str] = set()
        for _ in range(r.randint(1, 3)):
            if pool.emojis and r.random() < 0.3:
                emoji = pick(r, pool.emojis)
                shape: dict[str, Any] = {"id": emoji["id"], "name": emoji["name"]}
                if emoji.get("animated"):
                    shape["animated"] = True
            else:
                shape = {"id": None, "name": pick(r, REACTION_EMOJIS)}
            key = str(shape["id"] or shape["name"])
            if key in used:
                continue
            used.add(key)
            normal, burst = r.randint(1, 12), r.randint(0, 1)
            out.append(
                {
                    "emoji": shape,
                    "count": normal + burst,
                    "count_details": {"burst": burst, "normal": normal},
                    "burst_colors": ["#ffcc4d", "#f4900c"] if burst else [],
                    "me_burst": False,
                    "burst_me": False,
                    "me": False,
                    "burst_count": burst,
                }
            )
        return out

    def _poll(self, r: random.Random, ms: int) -> dict[str, Any]:
        """A poll; finalized when its expiry is in the past."""
        expiry = ms + 24 * 3_600_000
        answers = ["Yes", "No", "Maybe 🤔"]
        return {
            "question": {"text": "Ship it on Friday?"},
            "answers": [
                {"answer_id": i + 1, "poll_media": {"text": text}} for i, text in enumerate(answers)
            ],
            "expiry": iso_from_ms(expiry),
            "allow_multiselect": False,
            "layout_type": 1,
            "results": {
                "is_finalized": expiry < self.end_ms,
                "answer_counts": [
                    {"id": i + 1, "count": r.randint(0, 9), "me_voted": False}
                    for i in range(len(answers))
                ],
            },
        }

    # gating and pages -----------------------------------------------------------------

    def gate(self, msg: dict[str, Any]) -> dict[str, Any]:
        """What a bot without the Message Content intent receives.

        https://discord.com/developers/docs/events/gateway#message-content-intent
        """
        if msg["author"]["id"] == self.bot_id:
            return msg
        if any(user["id"] == self.bot_id for user in msg["mentions"]):
            return msg
        gated = dict(msg, content="", embeds=[], attachments=[], components=[])
        gated.pop("poll", None)
        if "message_snapshots" in msg:
            gated["message_snapshots"] = [
                {"message": dict(s["message"], content="", embeds=[], attachments=[])}
                for s in msg["message_snapshots"]
            ]
        if msg.get("referenced_message"):
            gated["referenced_message"] = self.gate(msg["referenced_message"])
        return gated

    def prefetch(
        self, log: MessageLog, cursor: int, limit: int, forward: bool, gated: bool
    ) -> None:
        """Build the page a sequential reader will ask for next, while it is busy.

        Readers page one channel strictly in order, so the next page is known; building
        it in the background lets the request find it cached. Best effort: dropped when
        the queue is full.
        """
        with self.lock:
            if self._prefetcher is None:
                self._prefetcher = threading.Thread(
                    target=self._prefetch_loop, name="emulator-prefetch", daemon=True
                )
                self._prefetcher.start()
        with contextlib.suppress(queue.Full):
            self._prefetch_queue.put_nowait((log, cursor, limit, forward, gated))

    def _prefetch_loop(self) -> None:
        while True:
            log, cursor, limit, forward, gated = self._prefetch_queue.get()
            with self.lock, contextlib.suppress(Exception):  # best effort, never fatal
                if forward:
                    ids = page_ids(log.ids, limit, None, None, cursor)
                else:
                    ids = page_ids(log.ids, limit, None, cursor, None)
                self.page_bytes(log, ids, gated)

    def page_bytes(self, log: MessageLog, ids: Sequence[int], gated: bool) -> bytes:
        """A JSON array of these messages, newest first, cached until the channel changes."""
        if not ids:
            return b"[]"
        key = (log.channel_id, log.version, ids[0], ids[-1], len(ids), gated, url_epoch())
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        parts = [self.message_json(log, mid, gated) for mid in reversed(ids)]
        body = ("[" + ",".join(parts) + "]").encode()
        self.cache.put(key, body)
        return body


def page_ids(
    ids: Any, limit: int, around: int | None, before: int | None, after: int | None
) -> list[int]:
    """Ascending ids of the page Discord would return (docs/discord-behaviour.md#message-pages)."""
    if after is not None:
        lo = bisect.bisect_right(ids, after)
        return list(ids[lo : lo + limit])
    if before is not None:
        hi = bisect.bisect_left(ids, before)
        return list(ids[max(0, hi - limit) : hi])
    if around is not None:
        older = limit // 2
        newer = limit - older
        hi = bisect.bisect_left(ids, around)
        lo = bisect.bisect_right(ids, around)
        return list(ids[max(0, hi - older) : hi]) + list(ids[lo : lo + newer])
    return list(ids[max(0, len(ids) - limit) :])


class PageCache:
    """A byte-bounded LRU of serialized pages (thread-safe)."""

    def __init__(self, max_bytes: int) -> None:
        """Evict the least recently used pages beyond `max_bytes`."""
        self.max_bytes = max_bytes
        self.size = 0
        self.items: OrderedDict[tuple, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple) -> bytes | None:
        """The cached page, marked as recently used."""
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key: tuple, value: bytes) -> None:
        """Store a page, evicting old ones over the budget."""
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.size += len(value)
            while self.size > self.max_bytes and self.items:
                _, old = self.items.popitem(last=False)
                self.size -= len(old)


class MessageList(Sequence[dict[str, Any]]):
    """A channel's messages in ascending id order, built on access (ground truth)."""

    def __init__(self, factory: MessageFactory, log: MessageLog) -> None:
        """A live view: it reflects added, edited and deleted messages."""
        self._factory = factory
        self._log = log

    def __len__(self) -> int:
        """Number of messages now in the channel."""
        return len(self._log.ids)

    def __getitem__(self, index: int | slice) -> Any:
        """One message, or a list for a slice."""
        with self._factory.lock:
            if isinstance(index, slice):
                return [self._factory.message(self._log, mid) for mid in self._log.ids[index]]
            return self._factory.message(self._log, self._log.ids[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Iterate over a snapshot of the ids taken now."""
        with self._factory.lock:
            ids = list(self._log.ids)
        for mid in ids:
            with self._factory.lock:
                yield self._factory.message(self._log, mid)

    def __eq__(self, other: object) -> bool:
        """Compare like a list."""
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        """Short: the channel and the count, not a million dicts."""
        return f"<MessageList channel={self._log.channel_id} len={len(self)}>"


class MessageMap(Mapping[str, MessageList]):
    """`world.messages`: channel or thread id -> its messages, ascending."""

    def __init__(self, factory: MessageFactory) -> None:
        """Keys are every channel and thread that can hold messages."""
        self._factory = factory

    def __getitem__(self, channel_id: str) -> MessageList:
        """The live message list of a channel or thread."""
        try:
            log = self._factory.logs[int(channel_id)]
        except (ValueError, KeyError):
            raise KeyError(channel_id) from None
        return MessageList(self._factory, log)

    def __iter__(self) -> Iterator[str]:
        """Channel ids as strings, in creation (id) order."""
        return iter([str(cid) for cid in sorted(self._factory.logs)])

    def __len__(self) -> int:
        """Number of message-bearing channels and threads."""
        return len(self._factory.logs)


def make_sentences(r: random.Random, count: int) -> list[str]:
    """Message texts drawn once per world: mostly words, some awkward on purpose."""
    out = []
    for _ in range(count):
        if r.random() < 0.15:
            out.append(pick(r, SPECIAL_CONTENTS))
        else:
            words = [pick(r, WORDS) for _ in range(r.randint(1, 14))]
            out.append(" ".join(words).capitalize() + ".")
    return out


def pick(r: random.Random, items: Sequence[Any]) -> Any:
    """A uniform choice (faster than `Random.choice` on the hot path)."""
    return items[int(r.random() * len(items))]


def _link_row(label: str, url: str) -> dict[str, Any]:
    """An action row holding one link button."""
    return {
        "type": 1,
        "id": 1,
        "components": [{"type": 2, "id": 2, "style": 5, "label": label, "url": url}],
    }


def url_epoch() -> int:
    """Signed attachment URLs rotate hourly, so pages are cached per hour."""
    return int(time.time() // 3600)


def signed_url(base: str, attachment_id: int, seed: int) -> str:
    """A CDN URL with Discord's `ex`/`is`/`hm` signature parameters (valid 24 h)."""
    issued = url_epoch() * 3600
    expires = issued + 86_400
    mac = hashlib.sha256(f"{seed}:{attachment_id}:{issued}".encode()).hexdigest()
    return f"{base}?ex={expires:x}&is={issued:x}&hm={mac}&"


def mix64(value: int) -> int:
    """SplitMix64's finalizer: 64 well-mixed bits from an id (cheaper than seeding MT)."""
    z = value & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def dumps_str(value: Any) -> str:
    """Compact JSON text with raw UTF-8 characters."""
    return _encode(value).decode()


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, as Discord sends it.

    msgspec writes what `json.dumps(value, ensure_ascii=False, separators=(",", ":"))`
    writes (but `1e16` for `1e+16`: both valid JSON), about three times faster. The
    emulator shares the machine with the tap in the benchmarks: its CPU per page counts.
    """
    return _encode(value)


_encode = msgspec.json.Encoder().encode
