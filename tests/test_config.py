"""Bad settings fail before any request, with one line naming the setting."""

from __future__ import annotations

import pytest

from tests.tapharness import run_tap

TOKEN = "cfg-test-token-must-never-print"
# Nothing listens here: a run that sent a request would fail differently (and slowly).
UNUSED_API = "http://127.0.0.1:9/api/v10"

BAD_CONFIGS = [
    ("missing token", {"api_url": UNUSED_API}, "bot_token"),
    ("empty token", {"bot_token": "  ", "api_url": UNUSED_API}, "bot_token"),
    (
        "http to a remote host",
        {"bot_token": TOKEN, "api_url": "http://discord.com/api/v10"},
        "api_url",
    ),
    ("not a url", {"bot_token": TOKEN, "api_url": "discord.com"}, "api_url"),
    (
        "bad start_date",
        {"bot_token": TOKEN, "api_url": UNUSED_API, "start_date": "yesterday"},
        "start_date",
    ),
    (
        "impossible date",
        {"bot_token": TOKEN, "api_url": UNUSED_API, "start_date": "2024-13-40"},
        "start_date",
    ),
    (
        "lookback not a duration",
        {"bot_token": TOKEN, "api_url": UNUSED_API, "message_lookback": "7 days"},
        "message_lookback",
    ),
    (
        "lookback a date",
        {"bot_token": TOKEN, "api_url": UNUSED_API, "message_lookback": "2024-01-01"},
        "message_lookback",
    ),
    (
        "guild id not numeric",
        {"bot_token": TOKEN, "api_url": UNUSED_API, "guild_ids": ["my-server"]},
        "guild_ids",
    ),
    (
        "channel id not numeric",
        {"bot_token": TOKEN, "api_url": UNUSED_API, "channel_ids": ["12ab"]},
        "channel_ids",
    ),
    (
        "zero rate",
        {"bot_token": TOKEN, "api_url": UNUSED_API, "max_requests_per_second": 0},
        "max_requests_per_second",
    ),
    (
        "zero invalid budget",
        {"bot_token": TOKEN, "api_url": UNUSED_API, "invalid_request_limit": 0},
        "invalid_request_limit",
    ),
    (
        "negative timeout",
        {"bot_token": TOKEN, "api_url": UNUSED_API, "request_timeout": -1},
        "request_timeout",
    ),
    (
        "negative retries",
        {"bot_token": TOKEN, "api_url": UNUSED_API, "max_retries": -2},
        "max_retries",
    ),
]


@pytest.mark.parametrize(
    ("case", "config", "setting"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_setting_is_one_clear_line(case: str, config: dict, setting: str) -> None:
    run = run_tap(config, timeout=60)
    assert run.returncode != 0, case
    assert "Traceback" not in run.output
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line and setting in line]
    assert errors, f"no error line naming {setting}:\n{run.stderr}"
    assert TOKEN not in run.output
    assert not run.messages, "nothing may be emitted before the settings are valid"


def test_loopback_http_is_accepted_for_the_emulator() -> None:
    run = run_tap(
        {"bot_token": TOKEN, "api_url": "http://localhost:9/api/v10"}, args=("--discover",)
    )
    assert run.returncode == 0, run.stderr


def test_discovery_needs_no_settings() -> None:
    run = run_tap({}, args=("--discover",))
    assert run.returncode == 0, run.stderr
    assert '"messages"' in run.stdout
