"""A missing Message Content intent is reported once per run (or, when required, fatal)."""

from __future__ import annotations

import pytest

from tests.emulator import Emulator, WorldSpec
from tests.tapharness import TapRun, run_tap

TOKEN = "content-intent-test-token"
PORTAL = "Privileged Gateway Intents → Message Content Intent"


def intent_warnings(run: TapRun) -> list[str]:
    return [
        line for line in run.stderr.splitlines() if "WARNING" in line and "Message Content" in line
    ]


def application_requests(emu: Emulator) -> int:
    return sum(1 for r in emu.requests if r.route == "application")


def tap_run(*, intent: bool, flags_served: bool = True, **config: object) -> tuple[TapRun, int]:
    """One run on the small world; the run and its /applications/@me request count."""
    with Emulator(WorldSpec.small(message_content_intent=intent), bot_token=TOKEN) as emu:
        if not flags_served:
            emu.settings.update(hidden_routes=["application"])
        run = run_tap({"bot_token": TOKEN, "api_url": emu.api_url, **config})
        return run, application_requests(emu)


@pytest.mark.parametrize("flags_served", [True, False], ids=["flags", "shape"])
def test_intent_on_gives_no_warning(flags_served: bool) -> None:
    run, asked = tap_run(intent=True, flags_served=flags_served)
    assert run.returncode == 0, run.stderr
    assert intent_warnings(run) == []
    assert asked == 1, "the flags are asked once per run"
    assert any(r["content"] for r in run.records("messages"))


@pytest.mark.parametrize("flags_served", [True, False], ids=["flags", "shape"])
def test_intent_off_gives_exactly_one_warning_naming_the_portal_setting(
    flags_served: bool,
) -> None:
    run, asked = tap_run(intent=False, flags_served=flags_served)
    assert run.returncode == 0, run.stderr
    (warning,) = intent_warnings(run)
    assert PORTAL in warning and "require_message_content" in warning
    assert asked == 1
    messages = run.records("messages")
    assert messages and sum(1 for m in messages if m["content"] == "") > len(messages) / 2
    assert TOKEN not in run.output


@pytest.mark.parametrize("flags_served", [True, False], ids=["flags", "shape"])
def test_required_intent_off_is_one_error_line_and_exit_1(flags_served: bool) -> None:
    run, _ = tap_run(intent=False, flags_served=flags_served, require_message_content=True)
    assert run.returncode == 1
    assert "Traceback" not in run.output
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, errors
    assert "require_message_content" in errors[0] and PORTAL in errors[0]
    if flags_served:
        assert run.records("messages") == [], "known before the first message request"


def test_required_intent_on_runs_normally() -> None:
    run, _ = tap_run(intent=True, require_message_content=True)
    assert run.returncode == 0, run.stderr
    assert intent_warnings(run) == []
