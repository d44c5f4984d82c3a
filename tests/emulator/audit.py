"""Audit-log entries and the objects a page of them references.

Route and order: https://discord.com/developers/docs/resources/audit-log#get-guild-audit-log

Entries are spread over the last 44 days (Discord keeps 45), ascending by id.
Each entry remembers which users, webhooks, threads, events, rules and
integrations it mentions, so a page's body carries only those, as Discord does.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.emulator.snowflakes import iso_from_ms, snowflake_ms

if TYPE_CHECKING:
    from tests.emulator.worldgen import World

DAY_MS = 86_400_000

REF_KEYS = (
    "users",
    "integrations",
    "webhooks",
    "guild_scheduled_events",
    "threads",
    "application_commands",
    "auto_moderation_rules",
)


@dataclass
class AuditRefs:
    """Objects entries may reference, by kind and id, and each entry's references."""

    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {key: {} for key in REF_KEYS}
    )
    by_entry: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def body(self, entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
        """The full response body for these entries: all eight keys, always."""
        entries = list(entries)
        wanted: dict[str, dict[str, None]] = {key: {} for key in REF_KEYS}
        for entry in entries:
            for kind, ref_id in self.by_entry.get(entry["id"], ()):
                wanted[kind][ref_id] = None
        out: dict[str, Any] = {"audit_log_entries": entries}
        for key in REF_KEYS:
            objects = self.objects[key]
            out[key] = [objects[i] for i in wanted[key] if i in objects]
        return out


def generate(
    world: World, r: random.Random, gid: str, users: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], AuditRefs]:
    """`spec.audit_log_entries` entries for one guild, ascending by id."""
    refs = AuditRefs()
    count = world.spec.audit_log_entries
    start = world.end_ms - 44 * DAY_MS
    entries = []
    builders = _builders()
    for i in range(count):
        at = start + (44 * DAY_MS * i) // max(1, count) + r.randint(0, 60_000)
        entries.append(_entry(world, r, gid, users, at, refs, builders))
    for user in [*users, world.bot_user]:
        refs.objects["users"][user["id"]] = user
    for hook in world.webhooks.get(gid, []):
        refs.objects["webhooks"][hook["id"]] = hook
    for thread in world.threads.get(gid, []):
        refs.objects["threads"][thread["id"]] = thread
    for event in world.scheduled_events.get(gid, []):
        refs.objects["guild_scheduled_events"][event["id"]] = event
    _integration_and_rule(world, gid, refs)
    return entries, refs


def _entry(
    world: World,
    r: random.Random,
    gid: str,
    users: list[dict[str, Any]],
    at: int,
    refs: AuditRefs,
    builders: list,
) -> dict[str, Any]:
    """One entry created at `at` (ms), its references recorded in `refs`."""
    entry_id = world.ids.at(at)
    actor = users[r.randrange(len(users))] if users else world.bot_user
    builder = builders[r.randrange(len(builders))]
    entry, entry_refs = builder(world, r, gid, actor, users, at)
    entry = {"id": entry_id, "user_id": actor["id"], **entry}
    entry_refs.append(("users", actor["id"]))
    refs.by_entry[entry_id] = entry_refs
    return _ordered(entry)


def new_entries(
    world: World, r: random.Random, gid: str, count: int, at: int
) -> list[dict[str, Any]]:
    """`count` entries created now (`at` ms), above the guild's newest, recorded in the world."""
    bot_id = world.bot_user["id"]
    users = [m["user"] for m in world.members.get(gid, []) if m["user"]["id"] != bot_id]
    refs, log = world.audit_refs[gid], world.audit_log[gid]
    newest = snowflake_ms(log[-1]["id"]) if log else 0
    builders = _builders()
    created = [
        _entry(world, r, gid, users, max(at, newest + 1) + i, refs, builders) for i in range(count)
    ]
    log.extend(created)
    return created


def _ordered(entry: dict[str, Any]) -> dict[str, Any]:
    """Key order as Discord sends entries (cosmetic, but diffs read better)."""
    order = ("user_id", "target_id", "id", "action_type", "changes", "options", "reason")
    return {k: entry[k] for k in order if k in entry}


def _integration_and_rule(world: World, gid: str, refs: AuditRefs) -> None:
    """The partial integration and the AutoMod rule some entries point at."""
    integration_id = str(int(gid) + 11)
    refs.objects["integrations"][integration_id] = {
        "id": integration_id,
        "name": "Tap Discord",
        "type": "discord",
        "account": {"id": world.bot_user["id"], "name": "Tap Discord"},
        "application_id": world.bot_user["id"],
    }
    rule_id = str(int(gid) + 12)
    refs.objects["auto_moderation_rules"][rule_id] = {
        "id": rule_id,
        "guild_id": gid,
        "name": "Block spam links",
        "creator_id": world.bot_user["id"],
        "event_type": 1,
        "trigger_type": 1,
        "trigger_metadata": {"keyword_filter": ["*spam.example*"], "regex_patterns": []},
        "actions": [{"type": 1, "metadata": {}}],
        "enabled": True,
        "exempt_roles": [],
        "exempt_channels": [],
    }


Built = tuple[dict[str, Any], list[tuple[str, str]]]


def _builders() -> list:
    """One function per kind of entry; picked at random for each entry."""
    return [
        _guild_update,
        _channel_create,
        _channel_update,
        _member_kick,
        _member_ban,
        _member_update,
        _member_role_update,
        _role_create,
        _invite_create,
        _webhook_create,
        _emoji_create,
        _message_delete,
        _message_bulk_delete,
        _message_pin,
        _integration_create,
        _event_create,
        _thread_create,
        _automod_rule_create,
        _automod_block,
    ]


def _pick(r: random.Random, items: list[dict[str, Any]]) -> dict[str, Any] | None:
    return items[r.randrange(len(items))] if items else None


def _created_before(items: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    """Objects that already existed at `at` (an entry cannot name a future object)."""
    return [item for item in items if snowflake_ms(item["id"]) < at]


def _text_channel(world: World, r: random.Random, gid: str) -> dict[str, Any]:
    channels = [c for c in world.channels[gid] if c["type"] == 0]
    return channels[r.randrange(len(channels))] if channels else world.channels[gid][0]


def _guild_update(world, r, gid, actor, users, at) -> Built:
    change = {"key": "name", "old_value": "Old Name", "new_value": world.guild(gid)["name"]}
    return {"target_id": gid, "action_type": 1, "changes": [change]}, []


def _channel_create(world, r, gid, actor, users, at) -> Built:
    channel = _text_channel(world, r, gid)
    changes = [
        {"key": "name", "new_value": channel["name"]},
        {"key": "type", "new_value": channel["type"]},
        {"key": "nsfw", "new_value": False},
        {"key": "permission_overwrites", "new_value": []},
        {"key": "rate_limit_per_user", "new_value": 0},
        {"key": "flags", "new_value": 0},
    ]
    return {"target_id": channel["id"], "action_type": 10, "changes": changes}, []


def _channel_update(world, r, gid, actor, users, at) -> Built:
    channel = _text_channel(world, r, gid)
    change = {"key": "topic", "old_value": "old topic", "new_value": channel.get("topic")}
    return {"target_id": channel["id"], "action_type": 11, "changes": [change]}, []


def _member_kick(world, r, gid, actor, users, at) -> Built:
    target = _pick(r, users) or actor
    entry = {"target_id": target["id"], "action_type": 20, "reason": "Spamming ünïcödé 🚫"}
    return entry, [("users", target["id"])]


def _member_ban(world, r, gid, actor, users, at) -> Built:
    target = _pick(r, users) or actor
    entry = {"target_id": target["id"], "action_type": 22, "reason": "Raid"}
    return entry, [("users", target["id"])]


def _member_update(world, r, gid, actor, users, at) -> Built:
    target = _pick(r, users) or actor
    changes = [{"key": "nick", "new_value": "New Nick ✨"}]  # no old_value: it was null
    if r.random() < 0.3:
        changes = [{"key": "communication_disabled_until", "new_value": iso_from_ms(at + DAY_MS)}]
    return {"target_id": target["id"], "action_type": 24, "changes": changes}, [
        ("users", target["id"])
    ]


def _member_role_update(world, r, gid, actor, users, at) -> Built:
    target = _pick(r, users) or actor
    roles = [x for x in world.roles[gid] if x["id"] != gid and not x.get("managed")]
    role = _pick(r, roles) or world.roles[gid][0]
    key = "$add" if r.random() < 0.7 else "$remove"
    change = {"key": key, "new_value": [{"id": role["id"], "name": role["name"]}]}
    return {"target_id": target["id"], "action_type": 25, "changes": [change]}, [
        ("users", target["id"])
    ]


def _role_create(world, r, gid, actor, users, at) -> Built:
    role = _pick(r, world.roles[gid][1:]) or world.roles[gid][0]
    changes = [
        {"key": "name", "new_value": role["name"]},
        {"key": "permissions", "new_value": role["permissions"]},
        {"key": "color", "new_value": role["color"]},
        {"key": "hoist", "new_value": role["hoist"]},
        {"key": "mentionable", "new_value": role["mentionable"]},
    ]
    return {"target_id": role["id"], "action_type": 30, "changes": changes}, []


def _invite_create(world, r, gid, actor, users, at) -> Built:
    channel = _text_channel(world, r, gid)
    code = f"inv{r.randrange(10**6):06d}"
    changes = [
        {"key": "code", "new_value": code},
        {"key": "channel_id", "new_value": channel["id"]},
        {"key": "inviter_id", "new_value": actor["id"]},
        {"key": "uses", "new_value": 0},
        {"key": "max_uses", "new_value": 0},
        {"key": "max_age", "new_value": 604800},
        {"key": "temporary", "new_value": False},
        {"key": "flags", "new_value": 0},
    ]
    return {"target_id": None, "action_type": 40, "changes": changes}, []


def _webhook_create(world, r, gid, actor, users, at) -> Built:
    hook = _pick(r, world.webhooks.get(gid, []))
    if hook is None:
        return _guild_update(world, r, gid, actor, users, at)
    changes = [
        {"key": "type", "new_value": 1},
        {"key": "channel_id", "new_value": hook["channel_id"]},
        {"key": "name", "new_value": hook["name"]},
        {"key": "avatar_hash", "new_value": hook["avatar"]},
    ]
    return {"target_id": hook["id"], "action_type": 50, "changes": changes}, [
        ("webhooks", hook["id"])
    ]


def _emoji_create(world, r, gid, actor, users, at) -> Built:
    emoji = _pick(r, world.emojis[gid])
    if emoji is None:
        return _guild_update(world, r, gid, actor, users, at)
    change = {"key": "name", "new_value": emoji["name"]}
    return {"target_id": emoji["id"], "action_type": 60, "changes": [change]}, []


def _message_delete(world, r, gid, actor, users, at) -> Built:
    target = _pick(r, users) or actor
    channel = _text_channel(world, r, gid)
    options = {"channel_id": channel["id"], "count": str(r.randint(1, 3))}
    entry = {"target_id": target["id"], "action_type": 72, "options": options}
    return entry, [("users", target["id"])]


def _message_bulk_delete(world, r, gid, actor, users, at) -> Built:
    channel = _text_channel(world, r, gid)
    options = {"count": str(r.randint(5, 100))}
    return {"target_id": channel["id"], "action_type": 73, "options": options}, []


def _message_pin(world, r, gid, actor, users, at) -> Built:
    target = _pick(r, users) or actor
    channel = _text_channel(world, r, gid)
    log = world.log(channel["id"])
    message_id = str(log.base[0]) if log is not None and len(log.base) else channel["id"]
    options = {"channel_id": channel["id"], "message_id": message_id}
    entry = {"target_id": target["id"], "action_type": 74, "options": options}
    return entry, [("users", target["id"])]


def _integration_create(world, r, gid, actor, users, at) -> Built:
    integration_id = str(int(gid) + 11)
    changes = [{"key": "type", "new_value": "discord"}, {"key": "name", "new_value": "Tap Discord"}]
    entry = {"target_id": integration_id, "action_type": 80, "changes": changes}
    return entry, [("integrations", integration_id)]


def _event_create(world, r, gid, actor, users, at) -> Built:
    event = _pick(r, _created_before(world.scheduled_events.get(gid, []), at))
    if event is None:
        return _guild_update(world, r, gid, actor, users, at)
    changes = [
        {"key": "name", "new_value": event["name"]},
        {"key": "privacy_level", "new_value": 2},
        {"key": "status", "new_value": 1},
        {"key": "entity_type", "new_value": event["entity_type"]},
    ]
    return {"target_id": event["id"], "action_type": 100, "changes": changes}, [
        ("guild_scheduled_events", event["id"])
    ]


def _thread_create(world, r, gid, actor, users, at) -> Built:
    thread = _pick(r, _created_before(world.threads.get(gid, []), at))
    if thread is None:
        return _channel_update(world, r, gid, actor, users, at)
    changes = [
        {"key": "name", "new_value": thread["name"]},
        {"key": "type", "new_value": thread["type"]},
        {"key": "archived", "new_value": False},
        {"key": "locked", "new_value": False},
        {"key": "auto_archive_duration", "new_value": 1440},
        {"key": "rate_limit_per_user", "new_value": 0},
        {"key": "flags", "new_value": 0},
    ]
    return {"target_id": thread["id"], "action_type": 110, "changes": changes}, [
        ("threads", thread["id"])
    ]


def _automod_rule_create(world, r, gid, actor, users, at) -> Built:
    rule_id = str(int(gid) + 12)
    changes = [
        {"key": "name", "new_value": "Block spam links"},
        {"key": "enabled", "new_value": True},
    ]
    entry = {"target_id": rule_id, "action_type": 140, "changes": changes}
    return entry, [("auto_moderation_rules", rule_id)]


def _automod_block(world, r, gid, actor, users, at) -> Built:
    target = _pick(r, users) or actor
    channel = _text_channel(world, r, gid)
    options = {
        "auto_moderation_rule_name": "Block spam links",
        "auto_moderation_rule_trigger_type": "1",
        "channel_id": channel["id"],
    }
    entry = {"target_id": target["id"], "action_type": 143, "options": options}
    return entry, [("users", target["id"]), ("auto_moderation_rules", str(int(gid) + 12))]
