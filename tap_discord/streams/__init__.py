"""Streams, grouped by Discord resource."""

from __future__ import annotations

from tap_discord.streams.audit_log import (
    AuditLogIntegrationsStream,
    AuditLogStream,
    AuditLogThreadsStream,
    AuditLogUsersStream,
    AuditLogWebhooksStream,
)
from tap_discord.streams.channels import ChannelsStream, ThreadsStream
from tap_discord.streams.event_users import ScheduledEventUsersStream
from tap_discord.streams.events import ScheduledEventsStream
from tap_discord.streams.expressions import EmojisStream, StickersStream
from tap_discord.streams.guild_settings import (
    OnboardingStream,
    RoleMemberCountsStream,
    SoundboardSoundsStream,
    VanityUrlStream,
    WelcomeScreenStream,
)
from tap_discord.streams.guilds import GuildsStream, InvitesStream
from tap_discord.streams.members import MembersStream
from tap_discord.streams.messages import MessagesStream
from tap_discord.streams.moderation import (
    AutoModRulesStream,
    BansStream,
    IntegrationsStream,
    WebhooksStream,
)
from tap_discord.streams.pins import PinsStream
from tap_discord.streams.polls import PollVotesStream
from tap_discord.streams.reactions import MessageReactionsStream
from tap_discord.streams.roles import RolesStream
from tap_discord.streams.thread_members import ThreadMembersStream
from tap_discord.streams.users import (
    CurrentUserStream,
    UserConnectionsStream,
    UserGuildMembersStream,
    UserGuildsStream,
)

#: Streams a bot token can read, in catalog order. The SDK syncs the children of
#: `guilds` in this order for each guild, which is the order the lists they share need
#: (`sharedlists.RUNS_BEFORE`, checked by the tests).
BOT_STREAMS = (
    GuildsStream,
    ChannelsStream,
    # Messages before threads: the messages stream lists the threads while workers
    # read the channels' pages; the threads stream then emits that list.
    MessagesStream,
    ThreadsStream,
    # After messages: they follow what this run's messages showed (observed.py).
    PinsStream,
    MessageReactionsStream,
    PollVotesStream,
    MembersStream,
    InvitesStream,
    RolesStream,
    EmojisStream,
    StickersStream,
    ScheduledEventsStream,
    # The rest of a guild (issue 18). scheduled_event_users reads the events
    # scheduled_events listed; thread_members the threads messages/threads listed.
    BansStream,
    AutoModRulesStream,
    WebhooksStream,
    IntegrationsStream,
    OnboardingStream,
    WelcomeScreenStream,
    SoundboardSoundsStream,
    ScheduledEventUsersStream,
    ThreadMembersStream,
    RoleMemberCountsStream,
    VanityUrlStream,
    # The reference streams before audit_log: the objects its entries name are emitted
    # before the entries, so the audit_log bookmark never passes an unemitted object.
    AuditLogUsersStream,
    AuditLogWebhooksStream,
    AuditLogIntegrationsStream,
    AuditLogThreadsStream,
    AuditLogStream,
    UserGuildsStream,
)

#: Streams an OAuth2 Bearer token can read (user-scope endpoints only, see
#: docs/discord-behaviour.md#routes-a-bearer-token-may-call); discovery keeps those whose
#: `oauth_scopes` the token has.
OAUTH_STREAMS = (
    CurrentUserStream,
    UserGuildsStream,
    UserConnectionsStream,
    UserGuildMembersStream,
)


def streams_for(mode: str) -> tuple[type, ...]:
    """The stream classes offered for an authentication mode."""
    return OAUTH_STREAMS if mode == "oauth" else BOT_STREAMS


__all__ = [
    "BOT_STREAMS",
    "OAUTH_STREAMS",
    "AuditLogIntegrationsStream",
    "AuditLogStream",
    "AuditLogThreadsStream",
    "AuditLogUsersStream",
    "AuditLogWebhooksStream",
    "AutoModRulesStream",
    "BansStream",
    "ChannelsStream",
    "CurrentUserStream",
    "EmojisStream",
    "GuildsStream",
    "IntegrationsStream",
    "InvitesStream",
    "MembersStream",
    "MessageReactionsStream",
    "MessagesStream",
    "OnboardingStream",
    "PinsStream",
    "PollVotesStream",
    "RoleMemberCountsStream",
    "RolesStream",
    "ScheduledEventUsersStream",
    "ScheduledEventsStream",
    "SoundboardSoundsStream",
    "StickersStream",
    "ThreadMembersStream",
    "ThreadsStream",
    "UserConnectionsStream",
    "UserGuildMembersStream",
    "UserGuildsStream",
    "VanityUrlStream",
    "WebhooksStream",
    "WelcomeScreenStream",
    "streams_for",
]
