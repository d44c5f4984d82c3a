"""What an operator reads: the run summary, the progress lines, and quiet INFO.

Each run is the real `tap-discord` command against the emulator; the summary's figures
are checked against the emulator's own request log and the tap's Singer output.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from tap_discord.progress import INTERVAL_ENV, MessageHistory
from tap_discord.runreport import SUMMARY_MARKER
from tests.emulator import Emulator, WorldSpec
from tests.tapharness import (
    TapRun,
    after_records,
    interrupt_tap,
    run_tap,
)

TOKEN = "runreport-test-bot-token"
PROGRESS = re.compile(
    r"Progress: messages, guild (?P<guild>\d+): (?P<records>[\d,]+) records \([\d,]+/s\), "
    r"(?P<done>\d+) of (?P<total>\d+) channels and threads done"
    r"(?:; history (?P<percent>\d+) % read)?"
)


def config(emu: Emulator, **extra: Any) -> dict[str, Any]:
    return {"bot_token": TOKEN, "api_url": emu.api_url, **extra}


def summaries(stderr: str) -> list[dict[str, Any]]:
    """Every RUN_SUMMARY JSON line of a run's log."""
    return [
        json.loads(line.split(SUMMARY_MARKER, 1)[1])
        for line in stderr.splitlines()
        if SUMMARY_MARKER in line
    ]


def the_summary(run: TapRun) -> dict[str, Any]:
    found = summaries(run.stderr)
    assert len(found) == 1, f"{len(found)} summaries"
    return found[0]


def records_by_stream(run: TapRun) -> dict[str, int]:
    return dict(Counter(m["stream"] for m in run.messages if m.get("type") == "RECORD"))


def log_lines(stderr: str, level: str) -> list[str]:
    return [line for line in stderr.splitlines() if f"| {level}" in line]


# The summary -------------------------------------------------------------------------


def test_summary_figures_match_the_emulators_request_log_and_the_output() -> None:
    # Unreadable channels and private archived threads without Manage Threads: refused
    # requests, skips and warnings to count.
    spec = WorldSpec.small(unreadable_channels=3, manage_threads=False)
    with Emulator(spec, bot_token=TOKEN) as emu:
        run = run_tap(config(emu))
        log = emu.requests
    assert run.returncode == 0, run.stderr[-3000:]
    summary = the_summary(run)
    assert summary["status"] == "succeeded" and summary["exit_code"] == 0
    assert summary["error"] is None
    # Requests: every one the emulator saw, by status.
    assert summary["requests"]["total"] == len(log)
    assert summary["requests"]["by_status"] == dict(Counter(str(r.status) for r in log))
    refused = sum(r.status in (401, 403) for r in log)
    assert refused > 0
    assert summary["invalid_requests"]["total"] == refused
    assert summary["invalid_requests"]["limit"] == 1000
    assert summary["rate_limits"]["429s"] == 0
    # Records: what reached stdout, per stream.
    assert summary["records"] == records_by_stream(run)
    assert summary["records_total"] == len(run.records("messages")) + sum(
        n for s, n in records_by_stream(run).items() if s != "messages"
    )
    # Skips and warnings: as many as the log says.
    skip_warnings = [line for line in log_lines(run.stderr, "WARNING") if "Skipping " in line]
    assert summary["skipped_count"] == len(skip_warnings) > 0
    for skip in summary["skipped"]:
        assert skip["stream"] and skip["reason"]
        assert any(skip["reason"].split(": ", 1)[1] in line for line in skip_warnings)
    assert summary["warnings"] == len(log_lines(run.stderr, "WARNING"))
    # The same figures for a person, at INFO.
    text = "\n".join(log_lines(run.stderr, "INFO"))
    assert "Run summary: succeeded (exit code 0)" in text
    assert f"requests: {len(log):,} (" in text
    assert f"skipped: {len(skip_warnings)}; warnings: {summary['warnings']}" in text


def test_a_fatal_error_still_ends_with_a_summary() -> None:
    with Emulator(WorldSpec.small(guilds=1), bot_token=TOKEN) as emu:
        run = run_tap(config(emu, bot_token="not-the-bots-token-at-all"))
        log = emu.requests
    assert run.returncode == 1
    summary = the_summary(run)
    assert summary["status"] == "failed" and summary["exit_code"] == 1
    assert "bot_token" in summary["error"]
    assert summary["requests"]["by_status"] == dict(Counter(str(r.status) for r in log))
    assert "Run summary: failed (exit code 1)" in run.stderr


def test_a_bad_setting_ends_with_a_failed_summary() -> None:
    run = run_tap({"bot_token": TOKEN, "max_workers": 0})
    assert run.returncode == 1
    summary = the_summary(run)
    assert summary["status"] == "failed" and "max_workers" in summary["error"]
    assert summary["requests"]["total"] == 0


def test_sigterm_ends_with_a_terminated_summary_counting_what_was_written() -> None:
    spec = WorldSpec.bench_rate_limited(
        text_channels=8, messages_per_channel=700, members=20, audit_log_entries=10
    )
    with Emulator(spec, bot_token=TOKEN) as emu:
        emu.settings.update(rate_limits="real", time_scale=0.2)
        run = interrupt_tap(config(emu), after_records(250, "messages"))
        log = emu.requests
    assert run.returncode == 0
    summary = the_summary(run)
    assert summary["status"] == "terminated" and summary["error"] == "stopped by SIGTERM"
    assert summary["records"] == records_by_stream(run)
    assert 0 < summary["records"]["messages"] < 8 * 700
    answered = sum(summary["requests"]["by_status"].values())
    assert answered <= len(log) <= answered + 64  # requests in flight when it stopped


# Progress ------------------------------------------------------------------------------


def test_a_long_run_prints_progress_lines_whose_counts_add_up() -> None:
    # Discord's limits at half their windows, progress every 0.3 s instead of 30 s.
    spec = WorldSpec.bench_rate_limited(
        text_channels=6,
        messages_per_channel=900,
        members=20,
        audit_log_entries=10,
        archived_public_threads=1,
        messages_per_thread=150,
    )
    with Emulator(spec, bot_token=TOKEN) as emu:
        emu.settings.update(rate_limits="real", time_scale=0.5)
        run = run_tap(config(emu), env={INTERVAL_ENV: "0.3"})
        guild = emu.world.guilds[0]["id"]
        targets = sum(1 for cid in emu.world.messages if emu.visible_messages(cid))
    assert run.returncode == 0, run.stderr[-3000:]
    found = [m for line in run.stderr.splitlines() if (m := PROGRESS.search(line))]
    assert len(found) >= 3, run.stderr[-3000:]
    messages = len(run.records("messages"))
    seen = [(int(m["records"].replace(",", "")), int(m["done"]), int(m["percent"])) for m in found]
    for match, (records, done, _) in zip(found, seen, strict=True):
        assert match["guild"] == str(guild)
        assert int(match["total"]) <= targets
        assert done <= int(match["total"])
        assert records <= messages
    assert int(found[-1]["total"]) == targets  # once the threads are listed
    assert seen == sorted(seen), "records, channels done and history read only grow"
    assert seen[0][2] < 100


def test_history_left_comes_from_the_bookmarks_and_last_message_ids() -> None:
    day = 86_400_000 << 22  # a day, in snowflake units
    plan = [
        {"channel_id": str(10 * day), "after": 0, "until": 20 * day},  # 10 days
        {"channel_id": str(5 * day), "after": 15 * day, "until": 45 * day},  # 30 days
    ]
    bookmarks = {plan[1]["channel_id"]: str(30 * day)}
    history = MessageHistory(plan, bookmarks)
    history.at(1)  # the first channel is written; the second is halfway
    assert history.span_ms() == (25 * 86_400_000, 40 * 86_400_000)
    assert history.describe() == (
        f"1 of 2 channels and threads done; history 62 % read (channel {5 * day} at 2015-01-31)"
    )


# Quiet INFO ----------------------------------------------------------------------------


def test_a_rate_limited_run_keeps_routine_waits_off_info() -> None:
    spec = WorldSpec.bench_rate_limited(
        text_channels=6, messages_per_channel=700, members=20, audit_log_entries=10
    )
    with Emulator(spec, bot_token=TOKEN) as emu:
        emu.settings.update(rate_limits="real", time_scale=0.3)
        run = run_tap(config(emu))
        waited = any(r.route == "messages" for r in emu.requests)
    assert run.returncode == 0 and waited
    info = log_lines(run.stderr, "INFO")
    assert "Rate limit: wait" in run.stderr  # at DEBUG
    assert not [line for line in info if "Rate limit" in line or "Pagination stopped" in line]
    warnings = [line.split("| ", 3)[-1] for line in log_lines(run.stderr, "WARNING")]
    assert len(warnings) == len(set(warnings)), "each warning once"
