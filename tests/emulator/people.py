"""Users, members, roles, emojis and stickers of a generated world.

Shapes: https://discord.com/developers/docs/resources/user#user-object,
https://discord.com/developers/docs/resources/guild#guild-member-object,
https://discord.com/developers/docs/topics/permissions#role-object,
https://discord.com/developers/docs/resources/emoji#emoji-object,
https://discord.com/developers/docs/resources/sticker#sticker-object.
"""

from __future__ import annotations

import random
from typing import Any

from tests.emulator.ids import IdAllocator
from tests.emulator.snowflakes import iso_from_ms

ADJECTIVES = [
    "quiet",
    "brave",
    "lucky",
    "sunny",
    "rapid",
    "cosmic",
    "gentle",
    "clever",
    "fuzzy",
    "amber",
    "silent",
    "bold",
]
NOUNS = [
    "otter",
    "falcon",
    "maple",
    "comet",
    "pixel",
    "harbor",
    "lynx",
    "cedar",
    "nebula",
    "tiger",
    "willow",
    "quartz",
]
DISPLAY_NAMES = ("Zoë ✨", "José Ñúñez", "李小龍", "Ølaf", "🦊 Fox", "Ana-María", None, None)
PUBLIC_FLAGS = (0, 0, 0, 64, 128, 256, 4194304)

EVERYONE_PERMISSIONS = "2248473465835073"
ADMIN_PERMISSIONS = "8"
MEMBER_PERMISSIONS = "1071698660929"


def avatar_hash(r: random.Random, animated_share: float = 0.1) -> str:
    """A 32-hex avatar hash, `a_`-prefixed when animated."""
    value = f"{r.getrandbits(128):032x}"
    return ("a_" + value) if r.random() < animated_share else value


def user_object(r: random.Random, user_id: str, index: int, bot: bool = False) -> dict[str, Any]:
    """A user as REST returns it inside members, messages, invites and audit logs."""
    username = f"{ADJECTIVES[index % len(ADJECTIVES)]}_{NOUNS[(index // 12) % len(NOUNS)]}"
    user: dict[str, Any] = {
        "id": user_id,
        "username": f"{username}{index}",
        "avatar": avatar_hash(r) if r.random() < 0.8 else None,
        "discriminator": "0",
        "public_flags": PUBLIC_FLAGS[r.randrange(len(PUBLIC_FLAGS))],
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "global_name": DISPLAY_NAMES[r.randrange(len(DISPLAY_NAMES))],
        "avatar_decoration_data": None,
        "collectibles": None,
        "display_name_styles": None,
        "banner_color": None,
        "clan": None,
        "primary_guild": None,
    }
    user["flags"] = user["public_flags"]
    if bot:
        user.update(bot=True, discriminator=f"{1000 + index % 9000}", global_name=None)
    return user


def bot_user_object(bot_id: str) -> dict[str, Any]:
    """The emulated application's bot user (id = application id, as for modern apps)."""
    return {
        "id": bot_id,
        "username": "Tap Discord Bot",
        "avatar": "4f1c6f2d3a1b5e7c9d0e8f7a6b5c4d3e",
        "discriminator": "4821",
        "public_flags": 524288,
        "flags": 524288,
        "bot": True,
        "banner": None,
        "accent_color": None,
        "global_name": None,
        "avatar_decoration_data": None,
        "collectibles": None,
        "display_name_styles": None,
        "banner_color": None,
        "clan": None,
        "primary_guild": None,
    }


def role_object(
    role_id: str,
    name: str,
    position: int,
    permissions: str,
    color: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    """A role; `extra` may set managed/hoist/mentionable/tags."""
    role: dict[str, Any] = {
        "id": role_id,
        "name": name,
        "permissions": permissions,
        "position": position,
        "color": color,
        "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }
    role.update(extra)
    return role


def guild_roles(
    ids: IdAllocator, r: random.Random, guild_id: str, created_ms: int, bot_id: str, count: int
) -> list[dict[str, Any]]:
    """@everyone (id = guild id), the bot's managed role, the booster role, then `count` more."""
    roles = [role_object(guild_id, "@everyone", 0, EVERYONE_PERMISSIONS)]
    at = created_ms + 60_000
    roles.append(
        role_object(
            ids.at(at + 1000),
            "Tap Discord Bot",
            1,
            "68608",
            managed=True,
            tags={"bot_id": bot_id},
        )
    )
    roles.append(
        role_object(
            ids.at(at + 2000),
            "Server Booster",
            2,
            "0",
            0xF47FFF,
            managed=True,
            tags={"premium_subscriber": None},
        )
    )
    names = ["Admin", "Moderator", "Member", "Contributor", "🎨 Artist", "Event Host"]
    for i in range(count):
        name = names[i] if i < len(names) else f"Role {i}"
        perms = ADMIN_PERMISSIONS if i == 0 else MEMBER_PERMISSIONS
        roles.append(
            role_object(
                ids.at(at + 10_000 * (i + 3)),
                name,
                3 + i,
                perms,
                r.randrange(0xFFFFFF),
                hoist=i < 2,
                mentionable=i % 2 == 1,
            )
        )
    return sorted(roles, key=lambda role: (role["position"], int(role["id"])))


def member_object(
    r: random.Random,
    user: dict[str, Any],
    joined_ms: int,
    role_ids: list[str],
    booster_role: str | None,
    end_ms: int,
) -> dict[str, Any]:
    """A guild member with roles, optional nick, boost and timeout."""
    roles = [rid for rid in role_ids if r.random() < 0.3]
    premium_since = None
    if booster_role and r.random() < 0.1:
        roles.append(booster_role)
        premium_since = iso_from_ms(joined_ms + (end_ms - joined_ms) // 2)
    timeout = None
    if r.random() < 0.03:
        timeout = iso_from_ms(end_ms + 3 * 86_400_000)
    return {
        "avatar": None,
        "banner": None,
        "communication_disabled_until": timeout,
        "flags": r.choice((0, 0, 0, 2, 10)),
        "joined_at": iso_from_ms(joined_ms),
        "nick": r.choice((None, None, None, "Nick ✨", "the boss", "Ünï")),
        "pending": False,
        "premium_since": premium_since,
        "roles": roles,
        "user": user,
        "mute": False,
        "deaf": False,
    }


def emoji_objects(
    ids: IdAllocator, r: random.Random, start_ms: int, creators: list[dict], count: int
) -> list[dict[str, Any]]:
    """Custom guild emojis; one in four is animated."""
    names = ["shipit", "lgtm", "party_parrot", "this_is_fine", "blobwave", "catjam", "kekw"]
    out = []
    for i in range(count):
        out.append(
            {
                "id": ids.at(start_ms + i * 3_600_000),
                "name": names[i % len(names)] + ("" if i < len(names) else str(i)),
                "roles": [],
                "user": creators[i % len(creators)],
                "require_colons": True,
                "managed": False,
                "animated": i % 4 == 2,
                "available": True,
            }
        )
    return out


def sticker_objects(
    ids: IdAllocator, guild_id: str, start_ms: int, creators: list[dict], count: int
) -> list[dict[str, Any]]:
    """Guild stickers of each format (PNG, APNG, Lottie, GIF)."""
    names = ["wave", "thumbs up", "ship it", "facepalm", "dance"]
    out = []
    for i in range(count):
        out.append(
            {
                "id": ids.at(start_ms + i * 7_200_000),
                "name": names[i % len(names)],
                "tags": ("👋", "👍", "🚀", "🤦", "💃")[i % 5],
                "type": 2,
                "format_type": (1, 2, 3, 4)[i % 4],
                "description": f"A sticker for {names[i % len(names)]}",
                "available": True,
                "guild_id": guild_id,
                "user": creators[i % len(creators)],
            }
        )
    return out
