"""Pins, reaction users and poll voters: who did what to a message, and the changes.

A generated message's `reactions` and `poll.results` give counts only; the users
behind them are derived here from the message id, the emoji (or answer) and the world
seed, so the same message always has the same users. A change (a reaction added or
taken back, a vote, a pin) stores the message's users explicitly and rewrites the
message's counts to match them, so the message and the users routes always agree.

Pins are a registry per channel: `{message id: pinned_at ms}`. `message.pinned` and
the channel's `last_pin_timestamp` follow it. An unpin leaves `last_pin_timestamp`
as it was: Discord documents it as the time of the last pin
(https://discord.com/developers/docs/resources/channel#channel-object), and says
nothing of an unpin.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from tests.emulator.messages import HAS_THREAD, mix64
from tests.emulator.snowflakes import iso_from_ms, make_snowflake, now_ms, snowflake_ms

if TYPE_CHECKING:
    from tests.emulator.messages import MessageFactory, MessageLog

#: Reaction list types of the reactions route (`type` query parameter).
NORMAL, BURST = 0, 1
#: Discord caps a channel's pins (error 30003).
MAX_PINS = 250


def emoji_key(emoji: dict[str, Any]) -> str:
    """A custom emoji's id, or the unicode emoji itself."""
    return str(emoji.get("id") or emoji.get("name") or "")


def user_object(user_id: str) -> dict[str, Any]:
    """A partial user as the reactions and voters routes return it."""
    return {
        "id": user_id,
        "username": f"user{user_id[-5:]}",
        "global_name": None,
        "avatar": None,
        "discriminator": "0",
        "public_flags": 0,
    }


class Social:
    """The users behind reactions and votes, and the pins, of a world's messages."""

    def __init__(self, factory: MessageFactory) -> None:
        """Nothing stored: everything is derived until something changes."""
        self.factory = factory
        #: channel id -> {message id: pinned_at ms} (the factory's: `message.pinned` reads it)
        self.pins = factory.pins
        #: message id -> {(emoji key, type): user ids}, for changed messages only
        self.reactors: dict[int, dict[tuple[str, int], list[str]]] = {}
        #: message id -> {answer id: user ids}, for changed polls only
        self.voters: dict[int, dict[int, list[str]]] = {}

    # derived users --------------------------------------------------------------------

    def candidates(self, log: MessageLog, salt: int, count: int) -> list[str]:
        """`count` distinct user ids for one list: the guild's members, then made-up ones."""
        pool = [str(u["id"]) for u in self.factory.pools[log.guild_id].authors]
        r = random.Random(mix64(salt ^ self.factory.salt))
        r.shuffle(pool)
        extra = count - len(pool)
        for k in range(max(0, extra)):
            pool.append(str(make_snowflake(1_600_000_000_000, 31, 31, (salt + k) & 0xFFF)))
        return sorted(pool[:count], key=int)

    def reaction_users(self, log: MessageLog, message_id: int, key: str, kind: int) -> list[str]:
        """The users of one reaction type on a message, ascending."""
        stored = self.reactors.get(message_id)
        if stored is not None:
            return list(stored.get((key, kind), []))
        msg = self.factory.message(log, message_id)
        for reaction in msg.get("reactions") or ():
            if emoji_key(reaction["emoji"]) == key:
                count = reaction["count_details"]["burst" if kind == BURST else "normal"]
                salt = message_id * 31 + hash_text(key) * 7 + kind
                return self.candidates(log, salt, count)
        return []

    def poll_voters(self, log: MessageLog, message_id: int, answer_id: int) -> list[str]:
        """The voters of one answer, ascending (single choice: each user votes once)."""
        stored = self.voters.get(message_id)
        if stored is not None:
            return list(stored.get(answer_id, []))
        return self._derived_votes(log, message_id).get(answer_id, [])

    def _derived_votes(self, log: MessageLog, message_id: int) -> dict[int, list[str]]:
        """Every answer's voters of an unchanged poll: one shuffled pool sliced by count."""
        poll = self.factory.message(log, message_id).get("poll") or {}
        counts = [
            (c["id"], c["count"]) for c in (poll.get("results") or {}).get("answer_counts", [])
        ]
        pool = self.candidates(log, message_id * 17 + 5, sum(n for _, n in counts))
        random.Random(message_id).shuffle(pool)
        out: dict[int, list[str]] = {}
        start = 0
        for answer_id, count in counts:
            out[int(answer_id)] = sorted(pool[start : start + count], key=int)
            start += count
        return out

    # changes --------------------------------------------------------------------------

    def change_reaction(
        self,
        log: MessageLog,
        message_id: int,
        emoji: dict[str, Any],
        user_id: str,
        *,
        add: bool,
        burst: bool,
    ) -> dict[str, Any]:
        """Add or take back one user's reaction; the message's counts follow."""
        msg = self._editable(log, message_id)
        users = self._materialize_reactions(log, message_id, msg)
        key, kind = emoji_key(emoji), BURST if burst else NORMAL
        listed = set(users.get((key, kind), []))
        listed = listed | {user_id} if add else listed - {user_id}
        users[(key, kind)] = sorted(listed, key=int)
        shapes = {emoji_key(r["emoji"]): r["emoji"] for r in msg.get("reactions") or ()}
        shapes.setdefault(key, {k: emoji[k] for k in ("id", "name") if k in emoji})
        reactions = []
        for k, shape in shapes.items():
            normal, bursts = len(users.get((k, NORMAL), [])), len(users.get((k, BURST), []))
            if normal + bursts:
                reactions.append(reaction_object(shape, normal, bursts))
        if reactions:
            msg["reactions"] = reactions
        else:
            msg.pop("reactions", None)
        log.overrides[message_id] = msg
        return msg

    def _materialize_reactions(
        self, log: MessageLog, message_id: int, msg: dict[str, Any]
    ) -> dict[tuple[str, int], list[str]]:
        """The message's reaction users, stored from now on."""
        if message_id not in self.reactors:
            found = {}
            for reaction in msg.get("reactions") or ():
                key = emoji_key(reaction["emoji"])
                for kind in (NORMAL, BURST):
                    found[(key, kind)] = self.reaction_users(log, message_id, key, kind)
            self.reactors[message_id] = found
        return self.reactors[message_id]

    def change_vote(
        self, log: MessageLog, message_id: int, answer_id: int, user_id: str, *, add: bool
    ) -> dict[str, Any]:
        """Add or take back one user's vote; the poll's counts follow."""
        msg = self._editable(log, message_id)
        poll = msg.get("poll")
        if not poll:
            raise ValueError(f"message {message_id} has no poll")
        votes = self.voters.setdefault(message_id, self._derived_votes(log, message_id))
        listed = set(votes.get(answer_id, []))
        if add and not poll.get("allow_multiselect"):
            for other in votes:
                votes[other] = [u for u in votes[other] if u != user_id]
        votes[answer_id] = sorted(listed | {user_id} if add else listed - {user_id}, key=int)
        results = dict(poll.get("results") or {"is_finalized": False})
        results["answer_counts"] = [
            {"id": a["answer_id"], "count": len(votes.get(a["answer_id"], [])), "me_voted": False}
            for a in poll["answers"]
            if votes.get(a["answer_id"])
        ]
        msg["poll"] = {**poll, "results": results}
        log.overrides[message_id] = msg
        return msg

    def finalize(self, log: MessageLog, message_id: int) -> dict[str, Any]:
        """End a poll now: its results become final."""
        msg = self._editable(log, message_id)
        poll = msg.get("poll")
        if not poll:
            raise ValueError(f"message {message_id} has no poll")
        self.voters.setdefault(message_id, self._derived_votes(log, message_id))
        results = dict(poll.get("results") or {"answer_counts": []}, is_finalized=True)
        msg["poll"] = {**poll, "results": results, "expiry": iso_from_ms(now_ms())}
        log.overrides[message_id] = msg
        return msg

    def attach_poll(
        self, log: MessageLog, message_id: int, answers: list[str], *, multiselect: bool = False
    ) -> dict[str, Any]:
        """Make a message a 24-hour poll with no votes yet (open)."""
        msg = self._editable(log, message_id)
        msg["content"] = ""
        msg["poll"] = {
            "question": {"text": "Which one?"},
            "answers": [
                {"answer_id": i + 1, "poll_media": {"text": text}} for i, text in enumerate(answers)
            ],
            "expiry": iso_from_ms(snowflake_ms(message_id) + 24 * 3_600_000),
            "allow_multiselect": multiselect,
            "layout_type": 1,
            "results": {"is_finalized": False, "answer_counts": []},
        }
        self.voters[message_id] = {}
        log.overrides[message_id] = msg
        return msg

    def pin(self, log: MessageLog, message_id: int, at_ms: int | None = None) -> dict[str, Any]:
        """Pin a message; the channel's `last_pin_timestamp` moves to the pin's time."""
        pins = self.pins.setdefault(log.channel_id, {})
        if message_id not in pins and len(pins) >= MAX_PINS:
            raise ValueError(f"channel {log.channel_id} already has {MAX_PINS} pins (30003)")
        at = at_ms if at_ms is not None else max(now_ms(), max(pins.values(), default=0) + 1)
        pins[message_id] = at
        log.channel["last_pin_timestamp"] = iso_from_ms(max(pins.values()))
        return self._set_pinned(log, message_id, pinned=True)

    def unpin(self, log: MessageLog, message_id: int) -> dict[str, Any]:
        """Unpin a message; `last_pin_timestamp` stays (see the module docstring)."""
        self.pins.get(log.channel_id, {}).pop(message_id, None)
        return self._set_pinned(log, message_id, pinned=False)

    def _set_pinned(self, log: MessageLog, message_id: int, *, pinned: bool) -> dict[str, Any]:
        msg = self._editable(log, message_id)
        msg["pinned"] = pinned
        log.overrides[message_id] = msg
        return msg

    def pinned_ids(self, channel_id: int) -> dict[int, int]:
        """The channel's pins: `{message id: pinned_at ms}`."""
        return self.pins.get(channel_id, {})

    def _editable(self, log: MessageLog, message_id: int) -> dict[str, Any]:
        """A copy of the message to store as its override (live fields come back on read)."""
        if message_id not in log:
            raise KeyError(f"no message {message_id} in channel {log.channel_id}")
        msg = self.factory.message(log, message_id, nested=True)
        msg.pop("thread", None)
        msg["flags"] &= ~HAS_THREAD
        return msg


def reaction_object(emoji: dict[str, Any], normal: int, burst: int) -> dict[str, Any]:
    """A message's `reactions` entry (https://discord.com/developers/docs/resources/message#reaction-object)."""
    return {
        "emoji": emoji,
        "count": normal + burst,
        "count_details": {"burst": burst, "normal": normal},
        "burst_colors": ["#ffcc4d", "#f4900c"] if burst else [],
        "me_burst": False,
        "burst_me": False,
        "me": False,
        "burst_count": burst,
    }


def hash_text(text: str) -> int:
    """A stable integer of a string (Python's `hash` of str changes per process)."""
    return int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little") ^ len(text)


def initial_pins(social: Social, log: MessageLog, count: int, end_ms: int) -> None:
    """Pin `count` messages spread over a channel, an hour after each was posted."""
    ids = list(log.ids)
    if not ids or count <= 0:
        return
    step = max(1, len(ids) // count)
    for index in range(len(ids) - 1, -1, -step)[:count]:
        message_id = ids[index]
        at = min(snowflake_ms(message_id) + 3_600_000, end_ms - index)
        social.pins.setdefault(log.channel_id, {})[message_id] = at
    log.channel["last_pin_timestamp"] = iso_from_ms(max(social.pins[log.channel_id].values()))
