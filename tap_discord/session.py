"""The HTTP session of every Discord request: requests, with less work per response.

Why: prefetch threads share the GIL with the main thread, whose CPU bounds an
unthrottled run, so each response should cost them as little Python as possible:

* requests reads the environment's proxy settings (`HTTPS_PROXY`, `NO_PROXY`, ...)
  again for every request, walking all of `os.environ` three times for each message
  page. The environment does not change during a run, so the answer requests gives
  for an origin (scheme and host) is kept and passed back to it.
  (The session's `proxies` and `trust_env` must not change after the first request.)
* requests reads a body in 10 KB chunks, each a system call after which the thread
  must win the GIL back (about 11 for a page of 100 messages); read at once, the body
  of a page usually arrives in one or two.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

import requests
from requests.utils import resolve_proxies
from typing_extensions import override


class DiscordSession(requests.Session):
    """`requests.Session` that finds proxies once per origin and reads a body at once."""

    def __init__(self) -> None:
        """A session with an empty proxy cache."""
        super().__init__()
        self._proxies_by_origin: dict[tuple[str, str], dict[str, str]] = {}

    @override
    def send(self, request: requests.PreparedRequest, **kwargs: t.Any) -> requests.Response:
        """Requests' `send`, given the proxies requests would work out for this origin."""
        if "proxies" not in kwargs:
            kwargs["proxies"] = self.proxies_for(request)
        stream = kwargs.pop("stream", self.stream)
        response = super().send(request, stream=True, **kwargs)
        if not stream:
            read_body_at_once(response)
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


def read_body_at_once(response: requests.Response) -> None:
    """What `Response.content` does (same errors, same result), in one read."""
    if response._content is not False or response.raw is None or not response.status_code:
        return  # read already (e.g. a 429 by the rate limiter), or nothing to read
    response._content = b"".join(response.iter_content(chunk_size=None)) or b""
    response._content_consumed = True
