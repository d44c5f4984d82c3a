"""A guild's integrations: installed apps and their scopes, Twitch and YouTube links.

https://discord.com/developers/docs/resources/guild#integration-object

``GET /guilds/{id}/integrations`` (Manage Server) returns at most 50; Discord offers
no way to reach the others. Fields marked "not provided for discord bot
integrations" are optional.
"""

from __future__ import annotations

from tap_discord.schemas.common import INTEGRATION_FIELDS
from tap_discord.schemas.fields import GUILD_ID, record

INTEGRATIONS_KEYS = ("id",)
INTEGRATIONS_SCHEMA = record(INTEGRATION_FIELDS, (GUILD_ID,))
