"""Route keys: which of Discord's per-route limits a request URL falls under.

Discord limits each route (method and path template) separately for every top-level
resource it names, its "major parameter": a channel, a guild or a webhook. See
https://discord.com/developers/docs/topics/rate-limits (the opening section, on
per-route limits and top-level resources).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# First path segment of every top-level REST resource: lets `parse_route` find the
# API root whatever base path (`/api/v10`, an emulator prefix, ...) precedes it.
_TOP_LEVEL = frozenset(
    {
        "applications",
        "channels",
        "entitlements",
        "gateway",
        "guilds",
        "interactions",
        "invites",
        "lobbies",
        "oauth2",
        "partner-sdk",
        "skus",
        "soundboard-default-sounds",
        "stage-instances",
        "sticker-packs",
        "stickers",
        "users",
        "voice",
        "webhooks",
    }
)
_MAJOR_PARAMETERS = {"channels": "channel_id", "guilds": "guild_id", "webhooks": "webhook_id"}
_ID_NAMES = {
    "bans": "user_id",
    "emojis": "emoji_id",
    "members": "user_id",
    "messages": "message_id",
    "roles": "role_id",
    "scheduled-events": "guild_scheduled_event_id",
    "thread-members": "user_id",
    "users": "user_id",
}
_VERSION = re.compile(r"v\d+")


@dataclass(frozen=True)
class Route:
    """One request's route: what Discord's per-route limits are keyed by.

    `template` has every id replaced (`GET /channels/{channel_id}/messages`), `major`
    identifies the top-level resource (`channel_id=123`, empty when there is none) and
    `label` is a log-safe description (a webhook token never appears in it).
    """

    method: str
    template: str
    major: str
    label: str

    @property
    def key(self) -> str:
        """Bucket key used until the route's `X-RateLimit-Bucket` is known."""
        return f"{self.template}:{self.major}"


def parse_route(method: str, url: str) -> Route:
    """Find the route template and major parameter of a request URL.

    Works for any base path: the API root is the first segment naming a top-level
    resource (`channels`, `guilds`, `users`, `oauth2`, ...). Query strings are ignored.
    """
    verb = method.upper()
    segments = [s for s in urlsplit(url).path.split("/") if s]
    start = next((i for i, s in enumerate(segments) if s in _TOP_LEVEL), None)
    if start is None:
        start = _skip_api_prefix(segments)
    parts = segments[start:]
    template = "/" + "/".join(_template_segments(parts))
    major, label = _major_parameter(parts)
    route_label = f"{verb} {template}" + (f" [{label}]" if label else "")
    return Route(method=verb, template=f"{verb} {template}", major=major, label=route_label)


def _skip_api_prefix(segments: list[str]) -> int:
    """Index after a leading `api` and/or `vNN`, for paths with no known resource."""
    index = 0
    if index < len(segments) and segments[index] == "api":
        index += 1
    if index < len(segments) and _VERSION.fullmatch(segments[index]):
        index += 1
    return index


def _template_segments(parts: list[str]) -> list[str]:
    """Replace ids, webhook tokens, invite codes and emoji names by placeholders."""
    out: list[str] = []
    for index, segment in enumerate(parts):
        previous = parts[index - 1] if index else ""
        if index == 0:
            out.append(segment)
        elif parts[0] == "webhooks" and index == 2 and parts[1].isdigit():
            out.append("{webhook_token}")
        elif parts[0] == "invites" and index == 1:
            out.append("{invite_code}")
        elif previous == "reactions":
            out.append("{emoji}")
        elif segment.isdigit():
            name = _ID_NAMES.get(previous) or f"{previous.rstrip('s').replace('-', '_')}_id"
            out.append("{" + name + "}")
        else:
            out.append(segment)
    return out


def _major_parameter(parts: list[str]) -> tuple[str, str]:
    """The major parameter key (may hold a webhook token) and its log-safe label."""
    if len(parts) < 2 or parts[0] not in _MAJOR_PARAMETERS or not parts[1].isdigit():
        return "", ""
    label = f"{_MAJOR_PARAMETERS[parts[0]]}={parts[1]}"
    if parts[0] == "webhooks" and len(parts) > 2:
        return f"{label}/webhook_token={parts[2]}", label
    return label, label
