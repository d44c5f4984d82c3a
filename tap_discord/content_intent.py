"""Is the Message Content privileged intent on? Say so once per run if it is not.

Without it Discord still answers every message request, but other users' messages come
back with empty `content`, `embeds`, `attachments` and `components`, the bot's own
messages and those mentioning it excepted
(https://discord.com/developers/docs/events/gateway#message-content-intent). Nothing fails,
so a user could load months of empty messages without noticing. Two signals:

* the application's flags from `GET /applications/@me`: GATEWAY_MESSAGE_CONTENT (1<<18)
  or GATEWAY_MESSAGE_CONTENT_LIMITED (1<<19) means the intent is on
  (https://discord.com/developers/docs/resources/application#application-object-application-flags).
  This is the answer whenever the route is available (one request per run);
* otherwise (route unavailable), the shape of the messages: several ordinary messages
  by people, not mentioning a bot, every one with no body at all, cannot happen with
  the intent on (a message always has text, an attachment, an embed, a sticker, a poll
  or a forward).

Off means one WARNING, or with `require_message_content` a one-line error (exit 1).
"""

from __future__ import annotations

import typing as t

from tap_discord.errors import ConfigError, RequestFailedError, ResourceSkippedError
from tap_discord.intents import MESSAGE_CONTENT_FLAGS

if t.TYPE_CHECKING:
    from tap_discord.client import DiscordStream
    from tap_discord.tap import TapDiscord

#: Ordinary messages (DEFAULT, REPLY): the only ones that always carry a body.
BODY_TYPES = frozenset({0, 19})
#: Bodiless ordinary messages, before any with a body, that prove gating.
EMPTY_EVIDENCE = 5
PORTAL_SETTING = (
    "enable it in the Discord Developer Portal (your application → Bot → Privileged "
    "Gateway Intents → Message Content Intent)"
)


class MessageContentCheck:
    """Decides once per run whether message bodies are gated, and reports it once."""

    def __init__(self, stream: DiscordStream) -> None:
        """Nothing is known until `start` asks Discord (through `stream`'s retries)."""
        self._stream = stream
        self._tap: TapDiscord = stream.discord_tap
        self._logger = stream.logger
        self._started = False
        self.enabled: bool | None = None  # None: unknown (the flags were not available)
        self._empty = 0

    @property
    def strict(self) -> bool:
        """`require_message_content`: a missing intent is an error, not a warning."""
        return bool(self._tap.config.get("require_message_content"))

    def start(self) -> None:
        """Read the application's flags (once per run); report at once if the intent is off."""
        if self._started:
            return
        self._started = True
        flags = self._application_flags()
        if flags is None:
            return
        self.enabled = bool(flags & MESSAGE_CONTENT_FLAGS)
        if not self.enabled:
            self._report("per the application's flags from GET /applications/@me")

    def observe(self, message: dict[str, t.Any]) -> None:
        """With the flags unknown, judge from ordinary messages until the answer is clear."""
        if self.enabled is not None or not _is_telling(message):
            return
        if _has_body(message):
            self.enabled = True
            return
        self._empty += 1
        if self._empty >= EMPTY_EVIDENCE:
            self.enabled = False
            self._report(
                f"the first {self._empty} messages by people came back with no content, "
                "embeds or attachments"
            )

    def _report(self, evidence: str) -> None:
        """One WARNING (or, when required, one ConfigError line) naming the portal setting."""
        if self.strict:
            raise ConfigError(
                f"require_message_content is true but the Message Content intent is off "
                f"({evidence}): {PORTAL_SETTING}, or set require_message_content to false"
            )
        self._logger.warning(
            "The Message Content intent is off (%s): Discord sends other users' messages "
            "with empty content, embeds, attachments and components, and this run loads "
            "them that way. To get message bodies, %s; to stop instead, set "
            "require_message_content to true.",
            evidence,
            PORTAL_SETTING,
        )

    def _application_flags(self) -> int | None:
        """The application's flags, or None where the route is not available.

        Bot tokens may read `/applications/@me`; an OAuth2 Bearer token may not (and its
        streams have no messages), so the shape of the messages decides then.
        """
        if self._tap.settings.auth_mode != "bot":
            return None
        try:
            body = self._stream.get_json(f"{self._tap.settings.api_url}/applications/@me")
        except (ResourceSkippedError, RequestFailedError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("flags"), int):
            self._logger.info(
                "Could not read the application's flags; judging the Message Content "
                "intent from the messages themselves."
            )
            return None
        return int(body["flags"])


def _is_telling(message: dict[str, t.Any]) -> bool:
    """An ordinary message by a person, not mentioning a bot: gated exactly when off.

    Bots' messages are left out (the bot's own are never gated), as are messages that
    mention a bot, forwards and sticker-only messages (no text of their own).
    """
    if message.get("type") not in BODY_TYPES:
        return False
    if (message.get("author") or {}).get("bot") or message.get("webhook_id"):
        return False
    if any(user.get("bot") for user in message.get("mentions") or []):
        return False
    return not (message.get("message_snapshots") or message.get("sticker_items"))


def _has_body(message: dict[str, t.Any]) -> bool:
    """Whether the message came with any of the fields the intent gates."""
    return any(
        message.get(key) for key in ("content", "embeds", "attachments", "components", "poll")
    )
