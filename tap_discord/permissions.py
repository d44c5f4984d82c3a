"""Which bot permissions each stream needs, and the integer for the bot's invite URL.

Kept in code (not only in the README) so that a test recomputes the README's invite
integer from it: adding a stream or a permission cannot leave the documentation behind.
Bits are Discord's permission flags:
https://discord.com/developers/docs/topics/permissions#permissions-bitwise-permission-flags
"""

from __future__ import annotations

from collections.abc import Iterable

#: Discord permission flags the tap's streams depend on.
PERMISSION_BITS: dict[str, int] = {
    "BAN_MEMBERS": 1 << 2,  # bans
    "MANAGE_GUILD": 1 << 5,  # Manage Server: invite usage counts, AutoMod, integrations
    "VIEW_AUDIT_LOG": 1 << 7,
    "VIEW_CHANNEL": 1 << 10,
    "READ_MESSAGE_HISTORY": 1 << 16,
    "CONNECT": 1 << 20,  # text chat of voice channels
    "MANAGE_WEBHOOKS": 1 << 29,  # webhooks
    "MANAGE_THREADS": 1 << 34,  # private archived threads
}

#: Permissions each bot stream needs to be complete. An empty tuple: being in the guild
#: is enough (or a privileged intent is needed instead, see the README).
STREAM_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "guilds": (),
    "channels": (),
    "threads": ("VIEW_CHANNEL", "READ_MESSAGE_HISTORY", "MANAGE_THREADS"),
    "messages": ("VIEW_CHANNEL", "READ_MESSAGE_HISTORY", "CONNECT"),
    "members": (),  # the Server Members privileged intent
    "invites": ("MANAGE_GUILD",),  # View Audit Log also lists them, without usage counts
    "roles": (),
    "emojis": (),
    "stickers": (),
    "scheduled_events": (),
    "audit_log": ("VIEW_AUDIT_LOG",),
    "audit_log_users": ("VIEW_AUDIT_LOG",),
    "audit_log_webhooks": ("VIEW_AUDIT_LOG",),
    "audit_log_integrations": ("VIEW_AUDIT_LOG",),
    "audit_log_threads": ("VIEW_AUDIT_LOG",),
    "user_guilds": (),
    # The rest of a guild (issue 18).
    "bans": ("BAN_MEMBERS",),
    "automod_rules": ("MANAGE_GUILD",),
    "webhooks": ("MANAGE_WEBHOOKS",),
    "integrations": ("MANAGE_GUILD",),
    "onboarding": (),
    "welcome_screen": (),  # Manage Server only while the screen is disabled
    "soundboard_sounds": (),
    "scheduled_event_users": ("VIEW_CHANNEL",),  # of a voice or stage event's channel
    "thread_members": (),  # the Server Members privileged intent
    "role_member_counts": (),
    "vanity_url": ("MANAGE_GUILD",),
    # Without Read Message History Discord answers an empty pin list, not an error.
    "pins": ("VIEW_CHANNEL", "READ_MESSAGE_HISTORY"),
    "message_reactions": ("VIEW_CHANNEL", "READ_MESSAGE_HISTORY"),
    "poll_votes": ("VIEW_CHANNEL", "READ_MESSAGE_HISTORY"),
}

#: Bot streams `meltano.yml` leaves unselected: each costs a request per thread.
OPT_IN_STREAMS = frozenset({"thread_members"})

#: Permissions that let the bot change the guild; the read-only integer leaves them out.
MANAGING = frozenset({"MANAGE_GUILD", "MANAGE_THREADS", "BAN_MEMBERS", "MANAGE_WEBHOOKS"})


def invite_permissions(streams: Iterable[str], *, read_only: bool = False) -> int:
    """The `permissions=` integer of the invite URL for these streams.

    `read_only` drops the managing permissions: then invites come without usage counts
    and private archived threads the bot has not joined are not listed.
    """
    value = 0
    for stream in streams:
        for name in STREAM_PERMISSIONS[stream]:
            if not (read_only and name in MANAGING):
                value |= PERMISSION_BITS[name]
    return value


def needs_permission(permission: str, what: str) -> dict[int | None, str]:
    """The 403 reasons of a route that needs one guild permission."""
    return {
        code: f"{label} ({code}): {what} needs the {permission} permission (grant it to the "
        "bot's role in Server Settings → Roles)"
        for code, label in ((50013, "Missing Permissions"), (50001, "Missing Access"))
    }


def needs_history(what: str) -> dict[int | None, str]:
    """The 403 reasons of a route under a channel's messages (pins, reactions, voters)."""
    return {
        50001: "Missing Access (50001): the bot cannot view this channel (needs View Channel)",
        50013: f"Missing Permissions (50013): {what} needs Read Message History",
    }
