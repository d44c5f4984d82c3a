"""Bad input fails before any data, with one line naming what is wrong and what to do.

One table of every kind of bad input a user can give the tap: settings, credentials,
ids, URLs, the state file, the catalog, a guild the bot is not in, a token store it
cannot use. Each case runs the real command and must end with exit code 1, exactly one
ERROR line naming the setting or resource and an action, no traceback, no RECORD, and
no secret in the output.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tap_discord.tap import TapDiscord
from tests.emulator import Emulator, WorldSpec
from tests.tapharness import run_tap

TOKEN = "cfg-test-token-must-never-print"
CLIENT_ID = "112233445566778899"
CLIENT_SECRET = "cfg-client-secret-must-never-print"
# Nothing listens here: a run that sent a request would fail differently (and slowly).
UNUSED_API = "http://127.0.0.1:9/api/v10"
GUILD = "81384788765712384"
CHANNEL = "81384788765712385"
#: Words that tell the user what to do; every error line must contain one.
ACTION = re.compile(
    r"\b(needs|use|set|remove|fix|change|invite|rerun|delete|point|quote|name|deselect)\b", re.I
)


@dataclass
class Env:
    """What a case may build its input from: the emulator and a scratch directory."""

    emu: Emulator
    tmp: str

    def bot(self, **extra: Any) -> dict[str, Any]:
        """Valid bot settings against the emulator, plus `extra`."""
        return {"bot_token": TOKEN, "api_url": self.emu.api_url, **extra}


@dataclass
class Case:
    """One bad input: how to build it, and the word the error line must name."""

    config: dict[str, Any] | Callable[[Env], dict[str, Any]]
    names: str | tuple[str, ...]
    state: dict[str, Any] | str | None = None
    catalog: dict[str, Any] | str | None = None


def offline(**extra: Any) -> dict[str, Any]:
    """Bot settings against a port where nothing listens (no request may be sent)."""
    return {"bot_token": TOKEN, "api_url": UNUSED_API, **extra}


def bookmarks(channel_bookmarks: Any) -> dict[str, Any]:
    """A STATE whose messages partition holds these channel bookmarks."""
    partition = {"context": {"guild_id": GUILD}, "channel_bookmarks": channel_bookmarks}
    return {"bookmarks": {"messages": {"partitions": [partition]}}}


def catalog_selecting(stream: str) -> dict[str, Any]:
    """A catalog whose only entry is a selected stream of that name."""
    entry = {
        "tap_stream_id": stream,
        "stream": stream,
        "schema": {"type": "object", "properties": {"id": {"type": "string"}}},
        "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
    }
    return {"streams": [entry]}


def unwritable_store(env: Env) -> dict[str, Any]:
    """OAuth2 with a real refresh token and a token store path that is a directory."""
    env.emu.settings.oauth_clients = {CLIENT_ID: CLIENT_SECRET}
    store = os.path.join(env.tmp, "store-is-a-directory")
    os.makedirs(store, exist_ok=True)
    return {
        "api_url": env.emu.api_url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": env.emu.issue_refresh_token(CLIENT_ID, "identify guilds"),
        "token_store_path": store,
    }


CASES: dict[str, Case] = {
    "missing token": Case({"api_url": UNUSED_API}, "bot_token"),
    "empty token": Case({"bot_token": "  ", "api_url": UNUSED_API}, "bot_token"),
    "both auth modes": Case(
        offline(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token="r-secret"),
        "bot_token",
    ),
    "oauth without client_secret": Case(
        {"api_url": UNUSED_API, "client_id": CLIENT_ID, "refresh_token": "r-secret"},
        "client_secret",
    ),
    "token not a string": Case(offline(bot_token=["a", "b"]), "bot_token"),
    "http to a remote host": Case(offline(api_url="http://discord.com/api/v10"), "api_url"),
    "not a url": Case(offline(api_url="discord.com"), "api_url"),
    "bad start_date": Case(offline(start_date="yesterday"), "start_date"),
    "impossible date": Case(offline(start_date="2024-13-40"), "start_date"),
    "guild id not numeric": Case(offline(guild_ids=["my-server"]), "guild_ids"),
    "channel id not numeric": Case(offline(channel_ids=["12ab"]), "channel_ids"),
    "zero rate": Case(offline(max_requests_per_second=0), "max_requests_per_second"),
    "zero invalid budget": Case(offline(invalid_request_limit=0), "invalid_request_limit"),
    "negative timeout": Case(offline(request_timeout=-1), "request_timeout"),
    "negative retries": Case(offline(max_retries=-2), "max_retries"),
    "zero workers": Case(offline(max_workers=0), "max_workers"),
    "zero prefetch buffer": Case(offline(prefetch_buffer_mb=0), "prefetch_buffer_mb"),
    "negative spill budget": Case(offline(prefetch_spill_mb=-1), "prefetch_spill_mb"),
    "spill dir missing": Case(
        offline(prefetch_spill_dir="/nonexistent/tap-discord"),
        ("prefetch_spill_dir", "/nonexistent/tap-discord", "not a writable directory"),
    ),
    "lookback not a duration": Case(offline(message_lookback="7 days"), "message_lookback"),
    "lookback a date": Case(offline(message_lookback="2024-01-01"), "message_lookback"),
    "guild the bot is not in": Case(
        lambda env: env.bot(guild_ids=["1234567890"]), ("guild_ids", "1234567890", "10004")
    ),
    "state not JSON": Case(offline(), "--state", state="{not json"),
    "state not an object": Case(offline(), "--state", state="[]"),
    "bookmark not a snowflake": Case(
        offline(), (CHANNEL, GUILD, "'abc'"), state=bookmarks({CHANNEL: "abc"})
    ),
    "bookmarks not a map": Case(offline(), "state", state=bookmarks([CHANNEL])),
    "catalog not JSON": Case(offline(), "--catalog", catalog='{"streams": ['),
    "catalog selects an unknown stream": Case(
        offline(), "'messagez'", catalog=catalog_selecting("messagez")
    ),
    "token store is not a file": Case(unwritable_store, "token_store_path"),
}


@pytest.fixture(scope="module")
def emu():
    with Emulator(WorldSpec.small(guilds=1), bot_token=TOKEN) as emulator:
        yield emulator


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clear_line_and_exit_1(name: str, emu: Emulator, tmp_path) -> None:
    case = CASES[name]
    env = Env(emu, str(tmp_path))
    config = case.config(env) if callable(case.config) else case.config
    run = run_tap(config, state=case.state, catalog=case.catalog, timeout=60)
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.output
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, run.stderr
    for name in (case.names,) if isinstance(case.names, str) else case.names:
        assert name in errors[0], errors[0]
    assert ACTION.search(errors[0]), f"the line says what to do: {errors[0]}"
    assert not [m for m in run.messages if m["type"] == "RECORD"], "no data before the error"
    # run_tap fails the test if any secret of the config or the emulator was printed.


def test_bad_input_table_covers_every_kind() -> None:
    # The issue asks for at least 15 table-driven cases in this one module.
    assert len(CASES) >= 15


def test_unwritable_token_store_does_not_spend_the_refresh_token(emu, tmp_path) -> None:
    config = unwritable_store(Env(emu, str(tmp_path)))
    run_tap(config, timeout=60)
    config["token_store_path"] = str(tmp_path / "store.json")
    again = run_tap(config, timeout=60)
    assert again.returncode == 0, again.stderr


def test_a_stream_of_the_other_auth_mode_is_a_warning_not_an_error() -> None:
    # A bot catalog reused with OAuth2 (or the reverse) is harmless: say what is skipped.
    run = run_tap(offline(), catalog=catalog_selecting("current_user"), timeout=60)
    assert run.returncode == 0, run.stderr
    (warning,) = [line for line in run.stderr.splitlines() if "WARNING" in line]
    assert "current_user" in warning and "bot token" in warning
    assert not [m for m in run.messages if m["type"] == "RECORD"]


def test_loopback_http_is_accepted_for_the_emulator() -> None:
    run = run_tap(
        {"bot_token": TOKEN, "api_url": "http://localhost:9/api/v10"}, args=("--discover",)
    )
    assert run.returncode == 0, run.stderr


def test_discovery_needs_no_settings() -> None:
    run = run_tap({}, args=("--discover",))
    assert run.returncode == 0, run.stderr
    assert '"messages"' in run.stdout


def test_a_spill_dir_under_home_is_expanded(tmp_path, monkeypatch) -> None:
    (tmp_path / "spill").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    tap = TapDiscord(config=offline(prefetch_spill_dir="~/spill"))  # validated: no error
    assert tap.settings.prefetch_spill_dir == str(tmp_path / "spill")
