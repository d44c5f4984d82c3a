"""The bot-token authenticator: `Authorization: Bot <token>`, nothing to refresh."""

from __future__ import annotations

import requests
from typing_extensions import override


class BotAuthenticator(requests.auth.AuthBase):
    """`Authorization: Bot <token>` on every request (the SDK's classes send `Bearer`)."""

    def __init__(self, token: str) -> None:
        """Accept the token with or without its `Bot ` prefix."""
        self._header = f"Bot {token.strip().removeprefix('Bot ').strip()}"

    @override
    def __repr__(self) -> str:
        """Never the token."""
        return "BotAuthenticator()"

    @override
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set the header."""
        request.headers["Authorization"] = self._header
        return request
