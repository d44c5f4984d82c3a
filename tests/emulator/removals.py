"""Objects deleted between runs: members who left, deleted channels, roles, expressions.

Each function changes the world as Discord does when the object is deleted, so the
next reads no longer list it (thread-safe: under the world lock):

* a member who leaves is gone from `GET /guilds/{id}/members`;
* a deleted channel takes its threads and its invites with it
  (https://discord.com/developers/docs/resources/channel#deleteclose-channel);
* a deleted role is removed from every member holding it
  (https://discord.com/developers/docs/topics/gateway-events#guild-role-delete);
* emojis, stickers, invites and scheduled events simply leave their lists;
* the rest of a guild (`moderation.py`): an unbanned user leaves the bans
  (https://discord.com/developers/docs/resources/guild#remove-guild-ban), a deleted
  AutoMod rule, webhook, integration or soundboard sound leaves its list;
* `parent` given: a user withdraws an event RSVP (`event_users`, parent: the event)
  or leaves a thread (`thread_members`, parent: the thread; its `member_count`
  follows, as Discord's thread object does, capped at 50).

Messages are deleted with `Emulator.delete_message`.
"""

from __future__ import annotations

import typing as t

if t.TYPE_CHECKING:
    from tests.emulator.core import Emulator

#: Kinds `remove` accepts, and the field that identifies an object of each.
KINDS: dict[str, str] = {
    "members": "user_id",
    "channels": "id",
    "threads": "id",
    "roles": "id",
    "emojis": "id",
    "stickers": "id",
    "invites": "code",
    "scheduled_events": "id",
    "bans": "user",
    "automod_rules": "id",
    "webhooks": "id",
    "integrations": "id",
    "soundboard_sounds": "sound_id",
    "event_users": "user",
    "thread_members": "user_id",
}
#: `GuildRest`'s attribute holding each guild-rest kind's lists (by guild or parent).
REST_LISTS = {
    "bans": "bans",
    "automod_rules": "automod_rules",
    "webhooks": "webhooks",
    "integrations": "integrations",
    "soundboard_sounds": "sounds",
    "event_users": "event_users",
    "thread_members": "thread_members",
}
#: Discord stops counting a thread's members at 50.
MEMBER_COUNT_CAP = 50


def remove(
    emu: Emulator, kind: str, guild_id: str, object_id: str, parent: str | None = None
) -> dict[str, t.Any]:
    """Delete one object of `kind` from the guild; what was deleted (KeyError if none).

    `parent`: the event or thread of an `event_users` or `thread_members` removal.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}")
    world, gid, oid = emu.world, str(guild_id), str(object_id)
    with world.lock:
        if kind in REST_LISTS:
            return _remove_rest(emu, kind, str(parent) if parent else gid, oid)
        if kind == "members":
            return _remove_member(emu, gid, oid)
        if kind == "channels":
            return _remove_channel(emu, gid, oid)
        if kind == "threads":
            return _take(world.threads[gid], "id", oid, world.index)
        if kind == "roles":
            role = _take(world.roles[gid], "id", oid)
            for member in world.members[gid]:
                if oid in member.get("roles", []):
                    member["roles"] = [r for r in member["roles"] if r != oid]
            return role
        items = getattr(world, kind)[gid]
        return _take(items, KINDS[kind], oid)


def _remove_rest(emu: Emulator, kind: str, owner: str, oid: str) -> dict[str, t.Any]:
    """One object of the rest of a guild leaves its list (`owner`: guild, event, thread)."""
    rest = emu.world.guild_rest
    items = getattr(rest, REST_LISTS[kind])[owner]
    if kind in ("bans", "event_users"):
        taken = _take_user(items, oid)
    else:
        taken = _take(items, KINDS[kind], oid)
    if kind == "bans":
        rest.ban_keys[owner].remove(int(oid))
    if kind == "thread_members":
        thread = next(
            th for threads in emu.world.threads.values() for th in threads if th["id"] == owner
        )
        thread["member_count"] = min(len(items), MEMBER_COUNT_CAP)
    return taken


def _take_user(items: list[dict[str, t.Any]], user_id: str) -> dict[str, t.Any]:
    """Remove the item whose `user.id` is `user_id`."""
    for position, item in enumerate(items):
        if item["user"]["id"] == user_id:
            del items[position]
            return item
    raise KeyError(f"no item of user {user_id}")


def _remove_member(emu: Emulator, gid: str, user_id: str) -> dict[str, t.Any]:
    """The member leaves; the page index the members route bisects follows."""
    members = emu.world.members[gid]
    for index, member in enumerate(members):
        if member["user"]["id"] == user_id:
            del members[index]
            emu.api.member_keys[gid].remove(int(user_id))
            return member
    raise KeyError(f"no member {user_id} in guild {gid}")


def _remove_channel(emu: Emulator, gid: str, channel_id: str) -> dict[str, t.Any]:
    """The channel goes, with its threads and its invites."""
    world = emu.world
    channel = _take(world.channels[gid], "id", channel_id, world.index)
    for thread in [th for th in world.threads[gid] if th.get("parent_id") == channel_id]:
        _take(world.threads[gid], "id", thread["id"], world.index)
    world.invites[gid][:] = [
        i for i in world.invites[gid] if (i.get("channel") or {}).get("id") != channel_id
    ]
    return channel


def _take(
    items: list[dict[str, t.Any]],
    field: str,
    value: str,
    index: dict[str, dict[str, t.Any]] | None = None,
) -> dict[str, t.Any]:
    """Remove the item whose `field` is `value` from `items` (and from `index`)."""
    for position, item in enumerate(items):
        if str(item.get(field)) == value:
            del items[position]
            if index is not None:
                index.pop(value, None)
            return item
    raise KeyError(f"no item with {field} {value}")
