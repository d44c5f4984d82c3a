"""A guild's webhooks, without their credentials.

https://discord.com/developers/docs/resources/webhook#webhook-object

``GET /guilds/{id}/webhooks`` (Manage Webhooks). ``token`` and ``url`` (which embeds
the token) let anyone post as the webhook, edit or delete it: the schema leaves them
out and the stream drops them from every response before anything else reads it.
"""

from __future__ import annotations

from tap_discord.schemas.audit_log import WEBHOOK_FIELDS
from tap_discord.schemas.fields import GUILD_ID, record

WEBHOOKS_KEYS = ("id",)
WEBHOOKS_SCHEMA = record(WEBHOOK_FIELDS, (GUILD_ID,))
