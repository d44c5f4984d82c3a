"""The privileged intents, as the bits of the application's `flags` (`GET /applications/@me`).

Each intent has two bits: the plain one for apps that passed Discord's review, the
`_LIMITED` one for smaller apps that switched it on in the Developer Portal. Over HTTP
either bit means the intent is on.
https://discord.com/developers/docs/resources/application#application-object-application-flags
"""

from __future__ import annotations

GATEWAY_PRESENCE = 1 << 12
GATEWAY_PRESENCE_LIMITED = 1 << 13
GATEWAY_GUILD_MEMBERS = 1 << 14
GATEWAY_GUILD_MEMBERS_LIMITED = 1 << 15
GATEWAY_MESSAGE_CONTENT = 1 << 18
GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19

#: Either bit of an intent: `flags & X` is true when the intent is on.
GUILD_MEMBERS_FLAGS = GATEWAY_GUILD_MEMBERS | GATEWAY_GUILD_MEMBERS_LIMITED
MESSAGE_CONTENT_FLAGS = GATEWAY_MESSAGE_CONTENT | GATEWAY_MESSAGE_CONTENT_LIMITED

#: Intent name as the Developer Portal shows it -> (enabled bit, limited bit).
PRIVILEGED_INTENTS: tuple[tuple[str, int, int], ...] = (
    ("Server Members (GUILD_MEMBERS)", GATEWAY_GUILD_MEMBERS, GATEWAY_GUILD_MEMBERS_LIMITED),
    ("Message Content (MESSAGE_CONTENT)", GATEWAY_MESSAGE_CONTENT, GATEWAY_MESSAGE_CONTENT_LIMITED),
    ("Presence (GUILD_PRESENCES)", GATEWAY_PRESENCE, GATEWAY_PRESENCE_LIMITED),
)
