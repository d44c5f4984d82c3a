"""OAuth2 mode end to end: the real CLI against the emulator's rotating token endpoint.

Every run uses the same config (the original refresh token), as a scheduler would:
only the token store carries the rotated tokens from one run to the next. The emulator
rejects a refresh token's second use (`invalid_grant`), so every run that succeeds
after the first proves the store was used.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.emulator import Emulator, WorldSpec
from tests.tapharness import ROOT, TapRun, run_tap

CLIENT_ID = "1122334455667788"
CLIENT_SECRET = "e2e-client-secret-never-print"
REFRESHED = "OAuth2 access token refreshed"
ALL_SCOPES = "identify guilds connections guilds.members.read"
#: Requests per second: slow enough that a run outlives several 2 s access tokens.
SLOW = 2


class World:
    """The emulator, plus a record of every token it hands out (for the secret scans)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.api_url = emu.api_url
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        emu.settings.update(oauth_clients={CLIENT_ID: CLIENT_SECRET})
        self.issued: set[str] = set()
        oauth = emu.oauth
        new_refresh, new_access = oauth._new_refresh, oauth._new_access

        def record_refresh(auth: Any) -> str:
            token = new_refresh(auth)
            self.issued.add(token)
            return token

        def record_access(auth: Any) -> Any:
            grant = new_access(auth)
            self.issued.add(grant.token)
            return grant

        oauth._new_refresh = record_refresh  # type: ignore[method-assign]
        oauth._new_access = record_access  # type: ignore[method-assign]

    def issue_refresh_token(self, scopes: str = ALL_SCOPES) -> str:
        return self.emu.issue_refresh_token(CLIENT_ID, scopes)

    def set_access_token_ttl(self, seconds: float) -> None:
        self.emu.settings.update(access_token_ttl=seconds)

    def secrets(self) -> set[str]:
        """Every credential handed out, plus the client secret."""
        return {self.client_secret, *self.issued}

    def user_guild_ids(self) -> set[str]:
        """Guilds of the default authorizing user (a human member of the first guild)."""
        user = self.emu.oauth._user(None)
        world = self.emu.world
        return {
            g["id"]
            for g in world.guilds
            if any(m["user"]["id"] == user["id"] for m in world.members[g["id"]])
        }

    def status_codes(self) -> list[int]:
        return [r.status for r in self.emu.requests]


@pytest.fixture
def world():
    # Six guilds: the default authorizing user is in several of them.
    with Emulator(WorldSpec.small(guilds=6)) as emu:
        yield World(emu)


def oauth_config(world: World, store: Path, refresh: str | None, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "client_id": world.client_id,
        "client_secret": world.client_secret,
        "api_url": world.api_url,
        "token_store_path": str(store),
        **extra,
    }
    if refresh is not None:
        config["refresh_token"] = refresh
    return config


def stored(store: Path) -> dict[str, Any]:
    """The single chain in the store."""
    chains = json.loads(store.read_text())["chains"]
    assert len(chains) == 1
    return chains[0]


def assert_ok(run: TapRun) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.output


def assert_no_secret(run_output: str, world: World) -> None:
    leaked = [s for s in world.secrets() if s and s in run_output]
    assert not leaked, f"{len(leaked)} secret(s) printed"


def error_lines(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "| ERROR" in line]


# Rotation across a run, across runs, and across crashes -------------------------------------


def test_short_lived_tokens_refresh_several_times_in_one_run(world, tmp_path) -> None:
    world.set_access_token_ttl(1)
    store = tmp_path / "tokens.json"
    config = oauth_config(world, store, world.issue_refresh_token())
    run = run_tap({**config, "max_requests_per_second": SLOW})
    assert_ok(run)
    assert run.stderr.count(REFRESHED) >= 3
    assert {r["id"] for r in run.records("user_guilds")} == world.user_guild_ids()
    assert {r["guild_id"] for r in run.records("user_guild_members")} == world.user_guild_ids()
    assert len(run.records("current_user")) == 1
    # A request may wait in the rate limiter past its token's expiry: at most one 401
    # per token, each answered by a refresh and a retry.
    assert world.status_codes().count(401) < run.stderr.count(REFRESHED)


def test_three_scheduled_runs_each_start_from_the_store(world, tmp_path) -> None:
    world.set_access_token_ttl(1)
    store = tmp_path / "tokens.json"
    config = oauth_config(world, store, world.issue_refresh_token())
    seen = []
    for n in range(3):
        run = run_tap(config)
        assert_ok(run)
        assert REFRESHED in run.stderr
        if n:
            assert "newer refresh token from the token store" in run.stderr
        seen.append(stored(store)["refresh_token"])
        time.sleep(1.0)  # the stored access token expires: the next run must refresh
    assert len(set(seen)) == 3
    assert config["refresh_token"] not in seen


def test_store_file_is_private(world, tmp_path) -> None:
    store = tmp_path / "state" / "tokens.json"
    assert_ok(run_tap(oauth_config(world, store, world.issue_refresh_token())))
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700
    lock = store.with_name(store.name + ".lock")
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


#: Runs the real CLI, but exits the process the instant the first refresh is saved:
#: the new refresh token is on disk, the new access token was never used.
EXIT_AFTER_SAVE = """
import os, sys
from tap_discord.auth import tokenstore
_save = tokenstore.TokenStore.save
def save(self, token):
    _save(self, token)
    os._exit(137)
tokenstore.TokenStore.save = save
from tap_discord.tap import TapDiscord
TapDiscord.cli()
"""


def test_exit_right_after_a_refresh_then_rerun_authenticates(world, tmp_path) -> None:
    store = tmp_path / "tokens.json"
    config = oauth_config(world, store, world.issue_refresh_token())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config))
        proc = subprocess.run(
            [sys.executable, "-c", EXIT_AFTER_SAVE, "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            check=False,
        )
    assert proc.returncode == 137, proc.stderr[-2000:]
    assert stored(store)["refresh_token"] != config["refresh_token"]
    run = run_tap(config)
    assert_ok(run)
    assert len(run.records("current_user")) == 1


def test_sigkill_mid_run_after_a_refresh_then_rerun_authenticates(world, tmp_path) -> None:
    world.set_access_token_ttl(1)
    store = tmp_path / "tokens.json"
    config = oauth_config(world, store, world.issue_refresh_token())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps({**config, "max_requests_per_second": SLOW}))
        proc = subprocess.Popen(
            [sys.executable, "-m", "tap_discord", "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        try:
            first = _wait_for_refresh(store, previous=None)
            _wait_for_refresh(store, previous=first)  # a refresh in the middle of the run
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    world.set_access_token_ttl(604800)
    run = run_tap(config)
    assert_ok(run)
    assert len(run.records("current_user")) == 1


def _wait_for_refresh(store: Path, previous: str | None, timeout: float = 60.0) -> str:
    """The store's refresh token once it differs from `previous`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            token = stored(store)["refresh_token"]
        except (FileNotFoundError, json.JSONDecodeError):
            token = None
        if token and token != previous:
            return token
        time.sleep(0.005)
    raise AssertionError("the tap never refreshed")


def test_two_runs_at_once_share_the_store(world, tmp_path) -> None:
    world.set_access_token_ttl(1)
    store = tmp_path / "tokens.json"
    config = oauth_config(world, store, world.issue_refresh_token(), max_requests_per_second=SLOW)
    runs: list[TapRun] = []
    threads = [threading.Thread(target=lambda: runs.append(run_tap(config))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for run in runs:
        assert_ok(run)
    assert_ok(run_tap(config))


# Refusals ------------------------------------------------------------------------------------


def test_reused_refresh_token_is_one_clear_line(world, tmp_path) -> None:
    refresh = world.issue_refresh_token()
    assert_ok(run_tap(oauth_config(world, tmp_path / "a.json", refresh)))
    # The same, now spent, token without the store that knows its successor:
    run = run_tap(oauth_config(world, tmp_path / "b.json", refresh))
    assert run.returncode == 1
    assert "Traceback" not in run.output
    lines = error_lines(run)
    assert len(lines) == 1, run.stderr[-2000:]
    assert "invalid_grant" in lines[0]
    assert "Re-authorize" in lines[0]
    assert not run.messages or all(m["type"] != "RECORD" for m in run.messages)
    assert_no_secret(run.output, world)


def test_wrong_client_secret_is_one_clear_line(world, tmp_path) -> None:
    config = oauth_config(world, tmp_path / "t.json", world.issue_refresh_token())
    config["client_secret"] = "wrong-secret-never-print"
    run = run_tap(config)
    assert run.returncode == 1
    lines = error_lines(run)
    assert len(lines) == 1, run.stderr[-2000:]
    assert "invalid_client" in lines[0]
    assert "client_secret" in lines[0]
    assert "wrong-secret-never-print" not in run.output


# Secrets ------------------------------------------------------------------------------------


def test_no_secret_in_any_output_at_debug(world, tmp_path) -> None:
    world.set_access_token_ttl(2)
    store = tmp_path / "tokens.json"
    config = oauth_config(world, store, world.issue_refresh_token(), max_requests_per_second=SLOW)
    debug = {"LOGLEVEL": "DEBUG", "TAP_DISCORD_LOGLEVEL": "DEBUG"}
    outputs = []
    for args in [(), (), ("--test=auth",), ("--discover",), ("--about", "--format=json")]:
        code, out, err = cli(config, *args, env=debug)
        assert code == 0, err[-2000:]
        outputs.append(out + err)
    assert "DEBUG" in outputs[0]
    assert outputs[0].count(REFRESHED) >= 2
    assert_no_secret("\n".join(outputs), world)


# Streams, scopes and the connection check ----------------------------------------------------


def cli(config: dict[str, Any], *args: str, env: dict[str, str] | None = None):
    """Run the CLI with a config file: (exit code, stdout, stderr).

    For modes whose stdout is not one Singer message per line (--discover, --about).
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config))
        proc = subprocess.run(
            [sys.executable, "-m", "tap_discord", "--config", str(path), *args],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env={**_clean_env(), **(env or {})},
            check=False,
        )
    return proc.returncode, proc.stdout, proc.stderr


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TAP_DISCORD_")}


def _discover(config: dict[str, Any]) -> list[str]:
    code, out, err = cli(config, "--discover")
    assert code == 0, err[-2000:]
    return sorted(s["tap_stream_id"] for s in json.loads(out)["streams"])


def test_discovery_offers_only_what_the_scopes_allow(world, tmp_path) -> None:
    full = oauth_config(world, tmp_path / "a.json", world.issue_refresh_token())
    assert _discover(full) == [
        "current_user",
        "user_connections",
        "user_guild_members",
        "user_guilds",
    ]
    narrow = oauth_config(world, tmp_path / "b.json", world.issue_refresh_token("identify guilds"))
    assert _discover(narrow) == ["current_user", "user_guilds"]
    run = run_tap(narrow)
    assert_ok(run)
    assert run.streams() == {"current_user", "user_guilds"}
    assert 401 not in world.status_codes()


def test_a_bot_catalog_in_oauth_mode_calls_no_bot_route(world, tmp_path) -> None:
    bot_catalog = {
        "streams": [
            {
                "tap_stream_id": name,
                "stream": name,
                "schema": {"type": "object", "properties": {}},
                "metadata": [{"breadcrumb": [], "metadata": {"selected": True}}],
            }
            for name in ("guilds", "channels", "messages", "members", "user_guilds")
        ]
    }
    config = oauth_config(world, tmp_path / "t.json", world.issue_refresh_token())
    run = run_tap(config, catalog=bot_catalog)
    assert_ok(run)
    assert 401 not in world.status_codes()
    routes = {r.route for r in world.emu.requests}
    assert routes <= {"oauth2_token", "users_me", "user_guilds", "user_guild_member"}, routes
    assert run.streams() <= {"user_guilds", "user_guild_members", "current_user"}


def test_client_credentials_without_refresh_token(world, tmp_path) -> None:
    store = tmp_path / "t.json"
    config = oauth_config(world, store, None, oauth_scopes="identify guilds")
    run = run_tap(config)
    assert_ok(run)
    assert run.streams() == {"current_user", "user_guilds"}
    assert stored(store)["grant"] == "client_credentials"
    assert stored(store)["refresh_token"] is None


def test_connection_check_for_oauth(world, tmp_path) -> None:
    run = run_tap(
        oauth_config(world, tmp_path / "t.json", world.issue_refresh_token()),
        args=("--test=auth",),
    )
    assert_ok(run)
    assert "Authenticated as user" in run.stdout
    assert "scopes: connections guilds guilds.members.read identify" in run.stdout
    assert "Streams offered:" in run.stdout
    assert_no_secret(run.output, world)


def test_connection_check_for_a_bot_names_its_intents(tmp_path) -> None:
    spec = WorldSpec.small(message_content_intent=False)
    with Emulator(spec, bot_token="check-bot-token-never-print") as emu:
        run = run_tap(
            {"bot_token": "check-bot-token-never-print", "api_url": emu.api_url},
            args=("--test=auth",),
        )
    assert_ok(run)
    assert "Authenticated as bot" in run.stdout
    assert "Message Content (MESSAGE_CONTENT): off" in run.stdout
    assert "Server Members (GUILD_MEMBERS): on" in run.stdout
    assert "check-bot-token-never-print" not in run.output


def test_connection_check_without_discord_is_one_line_after_one_attempt() -> None:
    """No retries and back-off for a check: the first refused connection is the answer."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connections are refused
    run = run_tap(
        {"bot_token": "unreachable-bot-token-never-print", "api_url": f"http://127.0.0.1:{port}"},
        args=("--test=auth",),
    )
    assert run.returncode == 1
    lines = error_lines(run)
    assert len(lines) == 1
    assert f"cannot reach Discord at http://127.0.0.1:{port}" in lines[0]
    assert "Traceback" not in run.output
    assert "still failed after" not in run.output  # the message after exhausted retries
    assert "unreachable-bot-token-never-print" not in run.output


def test_connection_check_with_a_bad_token_is_one_line(world, tmp_path) -> None:
    run = run_tap(
        {"bot_token": "wrong-bot-token-never-print", "api_url": world.api_url},
        args=("--test=auth",),
    )
    assert run.returncode == 1
    lines = error_lines(run)
    assert len(lines) == 1
    assert "bot_token" in lines[0]
    assert "Traceback" not in run.output
    assert "wrong-bot-token-never-print" not in run.output
