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

__all__ = [
    "BOT_STREAMS",
    "ChannelsStream",
    "GuildsStream",
    "InvitesStream",
    "MembersStream",
    "MessagesStream",
    "ThreadsStream",
    "UserGuildsStream",
]
