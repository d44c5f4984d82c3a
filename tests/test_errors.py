"""Error paths: fatal 401, skipped 403/404 with one warning, retried 429 and 5xx."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.emulator import Emulator, WorldSpec
from tests.tapharness import run_tap

TOKEN = "errors-test-token-secret-value"


@pytest.fixture
def emu():
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emulator:
        yield emulator


def config(emu: Emulator, **extra) -> dict:
    return {"bot_token": TOKEN, "api_url": emu.api_url, **extra}


def warnings(run) -> list[str]:
    return [line for line in run.stderr.splitlines() if "WARNING" in line]


def test_rejected_token_is_one_line_and_exit_1(emu) -> None:
    run = run_tap({"bot_token": "wrong-token-value", "api_url": emu.api_url})
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, run.stderr
    assert "bot_token" in errors[0] and "401" in errors[0]
    assert "Traceback" not in run.output
    assert "wrong-token-value" not in run.output
    assert sum(r.status == 401 for r in emu.requests) == 1, "a 401 is never retried"


def test_unreadable_channel_is_skipped_with_one_warning_and_one_request(emu) -> None:
    run = run_tap(config(emu))
    assert run.returncode == 0, run.stderr
    for channel_id in emu.world.unreadable:
        asked = [r for r in emu.requests if r.major == channel_id]
        assert len(asked) == 1, "an unreadable channel costs exactly one request"
        lines = [w for w in warnings(run) if channel_id in w]
        assert len(lines) == 1 and "View Channel" in lines[0]
    got = {r["channel_id"] for r in run.records("messages")}
    assert not got & emu.world.unreadable


def test_missing_members_intent_skips_members_and_says_which_intent(emu) -> None:
    emu.settings.members_intent = False
    run = run_tap(config(emu))
    assert run.returncode == 0, run.stderr
    assert run.records("members") == []
    assert run.records("messages"), "the other streams carry on"
    lines = [w for w in warnings(run) if "members" in w]
    assert len(lines) == len(emu.world.guilds)
    assert all("Server Members" in w for w in lines)
    assert not [
        r for r in emu.requests if r.status == 403 and r.route == "members" and r.kind != "403"
    ]
    assert Counter(r.route for r in emu.requests if r.status == 403)["members"] == len(
        emu.world.guilds
    )


def test_invites_without_manage_guild_are_skipped(emu) -> None:
    # Either Manage Server or View Audit Log may list invites
    # (https://discord.com/developers/docs/resources/guild#get-guild-invites).
    emu.settings.manage_guild = False
    emu.settings.view_audit_log = False
    run = run_tap(config(emu))
    assert run.returncode == 0, run.stderr
    assert run.records("invites") == []
    assert any("Manage Server" in w for w in warnings(run))


def test_private_archived_threads_need_manage_threads(emu) -> None:
    emu.settings.manage_threads = False
    run = run_tap(config(emu))
    assert run.returncode == 0, run.stderr
    got = {t["id"] for t in run.records("threads")}
    private_archived = {
        t["id"]
        for threads in emu.world.threads.values()
        for t in threads
        if t["type"] == 12 and t["thread_metadata"]["archived"]
    }
    assert private_archived and not got & private_archived
    assert any("Manage Threads" in w for w in warnings(run))
    private_403 = [
        r for r in emu.requests if r.status == 403 and r.path.split("?")[0].endswith("/private")
    ]
    assert len(private_403) == len(emu.world.guilds), "one refused request per guild, then stop"


def test_channel_deleted_mid_run_is_skipped(emu) -> None:
    victim = next(cid for cid in emu.world.messages if emu.visible_messages(cid))
    emu.settings.vanished_channels.add(victim)
    run = run_tap(config(emu))
    assert run.returncode == 0, run.stderr
    assert any(victim in w and "Unknown Channel" in w for w in warnings(run))
    assert victim not in {r["channel_id"] for r in run.records("messages")}


def test_server_errors_are_retried(emu) -> None:
    emu.settings.fail_next = [500, 502, 503]
    run = run_tap(config(emu))
    assert run.returncode == 0, run.stderr
    want = {m["id"] for cid in emu.world.messages for m in emu.visible_messages(cid)}
    assert {r["id"] for r in run.records("messages")} == want


def test_persistent_server_errors_fail_with_the_path_and_no_token(emu) -> None:
    emu.settings.fail_next = [503] * 50
    run = run_tap(config(emu, max_retries=2))
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, run.stderr
    assert "after 3 tries" in errors[0] and "/users/@me/guilds" in errors[0]
    assert TOKEN not in run.output
    assert "Traceback" not in run.output


def test_rate_limits_are_respected_and_429s_retried(emu) -> None:
    emu.settings.rate_limits = "real"
    emu.settings.time_scale = 0.05
    run = run_tap(config(emu))
    assert run.returncode == 0, run.stderr
    want = {m["id"] for cid in emu.world.messages for m in emu.visible_messages(cid)}
    assert Counter(r["id"] for r in run.records("messages")) == Counter(want)
    assert not [r for r in emu.requests if r.status == 429], "headers are read, 429s avoided"


def test_spurious_unknown_guild_is_retried_when_its_channels_answer(emu) -> None:
    """`GET /guilds/{id}` says 10004 for a guild the bot is in.

    docs/discord-behaviour.md#unknown-guild-for-a-guild-the-bot-is-in
    """
    emu.settings.unknown_guild_answers = 1
    run = run_tap(config(emu))
    assert run.returncode == 0, run.stderr
    guilds = {g["id"] for g in emu.world.guilds}
    assert {g["id"] for g in run.records("guilds")} == guilds
    want = {m["id"] for cid in emu.world.messages for m in emu.visible_messages(cid)}
    assert {r["id"] for r in run.records("messages")} == want
    routes = Counter(r.route for r in emu.requests)
    assert routes["guild"] == len(guilds) + 1, "one retry of the guild"
    assert routes["guild_channels"] == len(guilds), "the cross-check's channel list is reused"


def test_persistent_spurious_unknown_guild_is_one_line_naming_the_fault(emu) -> None:
    guild_id = emu.world.guilds[0]["id"]
    emu.settings.unknown_guild_answers = 100
    run = run_tap(config(emu, guild_ids=[guild_id], max_retries=1))
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, run.stderr
    assert guild_id in errors[0] and "8445" in errors[0] and "channels" in errors[0]
    assert "guild_ids" not in errors[0], "not blamed on the configuration"
    assert "Traceback" not in run.output


def test_connection_test_succeeds_without_error_lines(emu) -> None:
    """`--test` stops each stream after one record on purpose: that is no error."""
    run = run_tap(config(emu), args=("--test",))
    assert run.returncode == 0, run.stderr
    assert [line for line in run.stderr.splitlines() if "ERROR" in line] == []


def test_listed_guild_gone_when_read_is_skipped_with_one_warning(emu) -> None:
    """Without guild_ids, a guild the bot left between listing and reading is skipped."""
    gone = emu.world.guilds[0]["id"]
    emu.settings.left_guilds = {gone}
    run = run_tap(config(emu))
    assert run.returncode == 0, run.stderr
    lines = [w for w in warnings(run) if gone in w]
    assert len(lines) == 1 and "Unknown Guild" in lines[0], run.stderr
    assert "guild_ids" not in lines[0]
    others = {g["id"] for g in emu.world.guilds} - {gone}
    assert {g["id"] for g in run.records("guilds")} == others
    assert {r["guild_id"] for r in run.records("channels")} == others
