"""What the tap must emit for the rest of a guild, computed from the emulator's world.

Shared by the ground-truth tests (`test_guild_rest.py`), the schema test (every object
the emulator serves validates) and the end-to-end Meltano + PostgreSQL test.
"""

from __future__ import annotations

from typing import Any

#: Stream -> its key fields (as the tap declares them).
KEYS: dict[str, tuple[str, ...]] = {
    "bans": ("guild_id", "user_id"),
    "automod_rules": ("id",),
    "webhooks": ("id",),
    "integrations": ("id",),
    "onboarding": ("guild_id",),
    "welcome_screen": ("guild_id",),
    "soundboard_sounds": ("sound_id",),
    "scheduled_event_users": ("guild_scheduled_event_id", "user_id"),
    "thread_members": ("thread_id", "user_id"),
    "role_member_counts": ("guild_id", "role_id"),
    "vanity_url": ("guild_id",),
}
STREAMS = tuple(KEYS)
WEBHOOK_SECRETS = ("token", "url")


def expected(world: Any, threads: set[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every record of the new streams, sorted by key.

    `threads`: the thread ids whose members the tap reads (the threads it lists); None
    means every thread of the world.
    """
    rest = world.guild_rest
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in STREAMS}
    for guild in world.guilds:
        gid = guild["id"]
        for ban in rest.bans[gid]:
            out["bans"].append({**ban, "guild_id": gid, "user_id": ban["user"]["id"]})
        out["automod_rules"] += rest.automod_rules[gid]
        for hook in rest.webhooks[gid]:
            kept = {k: v for k, v in hook.items() if k not in WEBHOOK_SECRETS}
            out["webhooks"].append({"guild_id": gid, **kept})
        out["integrations"] += [{**i, "guild_id": gid} for i in rest.integrations[gid]]
        out["onboarding"].append(rest.onboarding[gid])
        out["welcome_screen"].append({**rest.welcome_screens[gid], "guild_id": gid})
        out["soundboard_sounds"] += rest.sounds[gid]
        for event in world.scheduled_events[gid]:
            for user in rest.event_users.get(event["id"], []):
                row = {**user, "guild_id": gid, "user_id": user["user"]["id"]}
                out["scheduled_event_users"].append(row)
        for thread in world.threads[gid]:
            if threads is not None and thread["id"] not in threads:
                continue
            for member in rest.thread_members.get(thread["id"], []):
                row = {**member, "thread_id": thread["id"], "guild_id": gid}
                out["thread_members"].append(row)
        for role_id, count in rest.role_member_counts(gid).items():
            row = {"guild_id": gid, "role_id": role_id, "member_count": count}
            out["role_member_counts"].append(row)
        out["vanity_url"].append({"guild_id": gid, **rest.vanity(gid)})
    return {name: sorted(rows, key=key_of(name)) for name, rows in out.items()}


def key_of(stream: str) -> Any:
    """Sort key of a stream's records: its key fields as integers."""
    fields = KEYS[stream]
    return lambda row: tuple(int(row[field]) for field in fields)
