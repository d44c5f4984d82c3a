"""OAuth2 (digest §5): token endpoint, rotation, revocation and Bearer principals.

Filled in after the bot-token API; until then no Bearer token is valid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.emulator.core import Emulator, Principal


class OAuthStore:
    """Authorizations and their tokens (placeholder: knows none yet)."""

    def __init__(self, emulator: Emulator) -> None:
        """Nothing issued yet."""
        self.emu = emulator

    def principal(self, token: str) -> Principal | None:
        """The Bearer principal of an access token, if it is valid now."""
        return None

    def user_view(self, principal: Principal) -> dict[str, Any]:
        """`/users/@me` for a Bearer token."""
        return dict(principal.user)

    def connections(self, principal: Principal) -> list[dict[str, Any]]:
        """`/users/@me/connections` for a Bearer token."""
        return []

    def authorization_info(self, principal: Principal) -> dict[str, Any]:
        """`/oauth2/@me` for a Bearer token."""
        return {}

    def token_endpoint(
        self,
        method: str,
        path: str,
        headers: Any,
        body: bytes,
        fault: str | None,
        number: int,
    ) -> tuple[Any, str | None]:
        """`POST /oauth2/token` and `/oauth2/token/revoke` (not implemented yet)."""
        from tests.emulator import errors
        from tests.emulator.core import json_response

        return json_response(404, errors.NOT_FOUND), None
