"""Guild settings read once per guild: onboarding, welcome screen, soundboard sounds.

Also the members per role and the vanity URL (each one request per guild).
"""

from __future__ import annotations

import typing as t

from typing_extensions import override

from tap_discord import schemas
from tap_discord.permissions import needs_permission
from tap_discord.responses import response_json
from tap_discord.streams.guilds import GuildChildStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests


class OnboardingStream(GuildChildStream):
    """`GET /guilds/{id}/onboarding`: prompts and their options, as Discord has them."""

    name = "onboarding"
    mirrors_deletions = True
    path = "/guilds/{guild_id}/onboarding"
    primary_keys = schemas.ONBOARDING_KEYS
    schema = schemas.ONBOARDING_SCHEMA
    records_jsonpath = "$"


class WelcomeScreenStream(GuildChildStream):
    """`GET /guilds/{id}/welcome-screen`; a disabled screen needs Manage Server."""

    name = "welcome_screen"
    mirrors_deletions = True
    path = "/guilds/{guild_id}/welcome-screen"
    primary_keys = schemas.WELCOME_SCREEN_KEYS
    schema = schemas.WELCOME_SCREEN_SCHEMA
    records_jsonpath = "$"
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = needs_permission(
        "Manage Server", "reading a disabled welcome screen"
    )


class SoundboardSoundsStream(GuildChildStream):
    """`GET /guilds/{id}/soundboard-sounds`, which answers `{items: [sound]}`."""

    name = "soundboard_sounds"
    mirrors_deletions = True
    path = "/guilds/{guild_id}/soundboard-sounds"
    primary_keys = schemas.SOUNDBOARD_SOUNDS_KEYS
    schema = schemas.SOUNDBOARD_SOUNDS_SCHEMA
    records_jsonpath = "$.items[*]"


class RoleMemberCountsStream(GuildChildStream):
    """`GET /guilds/{id}/roles/member-counts`: one row per role (@everyone excluded)."""

    name = "role_member_counts"
    mirrors_deletions = True
    path = "/guilds/{guild_id}/roles/member-counts"
    primary_keys = schemas.ROLE_MEMBER_COUNTS_KEYS
    schema = schemas.ROLE_MEMBER_COUNTS_SCHEMA

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The `{role_id: count}` map as rows, by role id (`guild_id` is added after)."""
        body = response_json(response)
        pairs = body.items() if isinstance(body, dict) else ()
        rows = [{"role_id": str(role), "member_count": count} for role, count in pairs]
        yield from self.checked(sorted(rows, key=lambda row: int(row["role_id"])), response)


class VanityUrlStream(GuildChildStream):
    """`GET /guilds/{id}/vanity-url`: `{code, uses}` (Manage Server).

    Its own stream rather than columns of `guilds`: the guild record stays one request
    that needs no permission, and a bot without Manage Server loses only this.
    """

    name = "vanity_url"
    mirrors_deletions = True
    path = "/guilds/{guild_id}/vanity-url"
    primary_keys = schemas.VANITY_URL_KEYS
    schema = schemas.VANITY_URL_SCHEMA
    records_jsonpath = "$"
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = needs_permission(
        "Manage Server", "reading the vanity URL's use count"
    )
