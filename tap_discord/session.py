"""The HTTP session of every Discord request: requests, with the proxy lookup done once.

Why: for every request, requests reads the environment's proxy settings again
(`HTTPS_PROXY`, `NO_PROXY`, ...; three walks of all of `os.environ`), about a third of
a prefetch thread's CPU per message page, taken from the GIL the main thread needs.
The environment does not change during a run, so the answer requests gives for an
origin (scheme and host) is kept and passed to it for the next requests there.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

import requests
from requests.utils import resolve_proxies


class DiscordSession(requests.Session):
    """`requests.Session` whose proxies, from settings and environment, are found once."""

    def __init__(self) -> None:
        """A session with an empty proxy cache."""
        super().__init__()
        self._proxies_by_origin: dict[tuple[str, str], dict[str, str]] = {}

    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        """Requests' `send`, given the proxies requests would work out for this origin."""
        if "proxies" not in kwargs:
            kwargs["proxies"] = self.proxies_for(request)
        stream = kwargs.pop("stream", self.stream)
        response = super().send(request, stream=True, **kwargs)
        if not stream:
            response._content = b"".join(response.iter_content(chunk_size=None)) or b""
            response._content_consumed = True
        return response

    def proxies_for(self, request: requests.PreparedRequest) -> dict[str, str]:
        """Requests' `resolve_proxies` for the request's origin, worked out once."""
        parts = urlsplit(request.url or "")
        origin = (parts.scheme, parts.netloc)
        found = self._proxies_by_origin.get(origin)
        if found is None:
            found = resolve_proxies(request, dict(self.proxies), self.trust_env)
            self._proxies_by_origin[origin] = found
        return dict(found)
