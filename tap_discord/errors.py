"""Errors the tap raises, split by what the user has to do about them.

Every error that reaches the user is one line that names the setting or the Discord
resource involved and says what to do. None of them ever carries a token.
"""

from __future__ import annotations


class DiscordTapError(Exception):
    """Base class for the tap's own errors."""


class UserFacingError(DiscordTapError):
    """A fatal error caused by configuration, credentials or the environment.

    The command line prints its message as a single line (no traceback) and exits 1.
    """


class ConfigError(UserFacingError):
    """A setting has a wrong value; the message names the setting."""


class AuthenticationError(UserFacingError):
    """Discord rejected the credentials (401, invalid_grant, invalid_client)."""


class RateLimitBanError(UserFacingError):
    """Discord (Cloudflare) has temporarily banned this IP, or we stopped before it would."""


class OutputClosedError(UserFacingError):
    """The Singer output (stdout) cannot be written: the target stopped reading."""

    @classmethod
    def of(cls, exc: OSError) -> OutputClosedError:
        """The one line for a failed write of the output."""
        return cls(f"writing the Singer output failed ({exc}): the target stopped reading")


class RequestFailedError(UserFacingError):
    """A request still failed after every retry; the message names the URL path."""


class ResourceSkippedError(DiscordTapError):
    """A single resource (channel, guild list, ...) cannot be read and is skipped.

    Raised for 403 (missing access, permission or intent) and 404 (deleted mid-run). The
    stream catches it, logs one WARNING naming the resource and the reason, and carries on.
    """

    def __init__(self, resource: str, reason: str, *, status: int, code: int | None) -> None:
        """Keep the resource, reason and Discord status/code for the warning."""
        super().__init__(f"{resource}: {reason}")
        self.resource = resource
        self.reason = reason
        self.status = status
        self.code = code
