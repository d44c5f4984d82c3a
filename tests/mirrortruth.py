"""Ground truth of `pins`, `message_reactions` and `poll_votes` from the emulator's world.

Keyed like the rows; values are the compared columns. Shared by the Singer-level tests
and the Meltano + PostgreSQL end-to-end test.
"""

from __future__ import annotations

from typing import Any

from tests.emulator.snowflakes import iso_from_ms
from tests.emulator.social import BURST, NORMAL, emoji_key

FOLLOWERS = ("pins", "message_reactions", "poll_votes")
KEYS: dict[str, tuple[str, ...]] = {
    "pins": ("channel_id", "message_id"),
    "message_reactions": ("message_id", "emoji_key", "type"),
    "poll_votes": ("message_id", "answer_id"),
}
#: The columns compared with the world (besides the key).
VALUES: dict[str, tuple[str, ...]] = {
    "pins": ("pinned_at",),
    "message_reactions": ("count", "user_ids"),
    "poll_votes": ("count", "user_ids"),
}
Key = tuple[Any, ...]


def follower_rows(emu: Any) -> dict[str, dict[Key, tuple[Any, ...]]]:
    """The pins, reactions and votes the bot can read now, keyed like the rows."""
    social = emu.world.social
    out: dict[str, dict[Key, tuple[Any, ...]]] = {s: {} for s in FOLLOWERS}
    for channel_id in emu.world.messages:
        messages = emu.visible_messages(channel_id)
        log = emu.world.log(channel_id)
        present = {m["id"] for m in messages}
        for message_id, at in social.pinned_ids(int(channel_id)).items():
            if str(message_id) in present:
                out["pins"][(channel_id, str(message_id))] = (iso_from_ms(at),)
        for message in messages:
            mid = message["id"]
            for reaction in message.get("reactions") or ():
                key = emoji_key(reaction["emoji"])
                for kind, name in ((NORMAL, "normal"), (BURST, "burst")):
                    count = reaction["count_details"][name]
                    if count:
                        users = social.reaction_users(log, int(mid), key, kind)
                        assert len(users) == count, "the emulator's users follow its counts"
                        out["message_reactions"][(mid, key, name)] = (count, users)
            for answer in (message.get("poll") or {}).get("answers") or ():
                voters = social.poll_voters(log, int(mid), answer["answer_id"])
                out["poll_votes"][(mid, str(answer["answer_id"]))] = (len(voters), voters)
    return out
