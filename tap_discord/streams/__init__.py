"""Streams, grouped by Discord resource."""

from __future__ import annotations

from tap_discord.streams.channels import ChannelsStream, ThreadsStream
from tap_discord.streams.guilds import GuildsStream, InvitesStream
from tap_discord.streams.members import MembersStream
from tap_discord.streams.messages import MessagesStream
from tap_discord.streams.users import UserGuildsStream

#: Streams a bot token can read, in catalog order.
BOT_STREAMS = (
    GuildsStream,
    ChannelsStream,
    ThreadsStream,
    MessagesStream,
    MembersStream,
    InvitesStream,
    UserGuildsStream,
)

#: Streams an OAuth2 Bearer token can read (user-scope endpoints only).
OAUTH_STREAMS = (UserGuildsStream,)


def streams_for(mode: str) -> tuple[type, ...]:
    """The stream classes offered for an authentication mode."""
    return OAUTH_STREAMS if mode == "oauth" else BOT_STREAMS


__all__ = [
    "BOT_STREAMS",
    "OAUTH_STREAMS",
    "ChannelsStream",
    "GuildsStream",
    "InvitesStream",
    "MembersStream",
    "MessagesStream",
    "ThreadsStream",
    "UserGuildsStream",
    "streams_for",
]
