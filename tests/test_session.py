"""The tap's HTTP session behaves as requests does: proxies from the environment, bodies.

`tap_discord/session.py` looks the environment's proxies up once per origin and reads
a body in one go; neither may change what a user gets from requests.
"""

from __future__ import annotations

import socket

import pytest
import requests

from tap_discord.session import DiscordSession
from tests.emulator import Emulator, WorldSpec

TOKEN = "session-test-token"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def dead_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def emulator():
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emu:
        yield emu


@pytest.fixture
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def get(session: requests.Session, url: str, **kwargs) -> requests.Response:
    return session.get(url, headers={"Authorization": f"Bot {TOKEN}"}, timeout=10, **kwargs)


def test_a_proxy_from_the_environment_is_used_as_requests_uses_it(
    emulator: Emulator, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    clean_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
    url = f"{emulator.api_url}/users/@me"
    for session in (requests.Session(), DiscordSession()):
        with pytest.raises(requests.exceptions.ProxyError):
            get(session, url)


def test_no_proxy_exempts_a_host_as_requests_does(
    emulator: Emulator, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    clean_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")
    clean_proxy_env.setenv("NO_PROXY", "127.0.0.1,localhost")
    session = DiscordSession()
    url = f"{emulator.api_url}/users/@me"
    for _ in range(2):  # the second answer comes from the session's cache
        response = get(session, url)
        assert response.status_code == 200
        assert response.json()["id"]


def test_bodies_are_what_requests_reads(
    emulator: Emulator, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    guild = get(requests.Session(), f"{emulator.api_url}/users/@me/guilds").json()[0]["id"]
    channels = get(requests.Session(), f"{emulator.api_url}/guilds/{guild}/channels").json()
    channel = next(c for c in channels if c.get("last_message_id"))
    url = f"{emulator.api_url}/channels/{channel['id']}/messages?limit=100&after=0"
    plain, ours = get(requests.Session(), url), get(DiscordSession(), url)
    assert ours.content == plain.content and len(ours.content) > 1000
    assert ours.json() == plain.json()
    missing = get(DiscordSession(), f"{emulator.api_url}/channels/1/messages")
    assert missing.status_code == 404 and missing.json()["code"] == 10003
    streamed = get(DiscordSession(), url, stream=True)
    assert streamed.raw.read() == plain.content, "a streamed response is left unread"
