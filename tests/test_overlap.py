"""Two runs on the same state must not overlap: the second one stops, the first is whole.

The tap's part (`tap_discord/runlock.py`): a run holds a lock on the directory of its
`--state`/`--catalog` files (Meltano's `.meltano/run/<extractor>/`); a second tap run on
the same files stops at once with one line. Meltano's part (a second `meltano run` of
the same state ID is refused) is tested end to end in `test_e2e_meltano.py`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tap_discord.runlock import LOCK_NAME
from tests.emulator import Emulator, WorldSpec
from tests.tapharness import LOG_LEVEL_ENV, ROOT, _clean_env, _parse, channel_bookmarks

TOKEN = "overlap-test-bot-token"


def paged_world() -> WorldSpec:
    """One guild, 4 channels of 5 full pages."""
    return WorldSpec.bench_rate_limited(
        text_channels=4, messages_per_channel=500, members=20, audit_log_entries=10
    )


def start_tap(config: Path, state: Path | None, out: Path, err: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tap_discord", "--config", str(config)]
    if state is not None:
        cmd += ["--state", str(state)]
    return subprocess.Popen(
        cmd,
        stdout=out.open("w"),
        stderr=err.open("w"),
        cwd=ROOT,
        env={**_clean_env(), **LOG_LEVEL_ENV},
    )


def visible_newest(emu: Emulator) -> dict[str, str]:
    """Channel id -> id of its newest visible message (what a complete state holds)."""
    found = {}
    for channel_id in emu.world.messages:
        visible = emu.visible_messages(channel_id)
        if visible:
            found[channel_id] = str(visible[-1]["id"])
    return found


def test_a_second_run_on_the_same_state_stops_and_the_first_completes(tmp_path: Path) -> None:
    with Emulator(paged_world(), bot_token=TOKEN) as emu:
        emu.settings.update(rate_limits="real")
        config: dict[str, Any] = {"bot_token": TOKEN, "api_url": emu.api_url}
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        state = run_dir / "state.json"
        state.write_text("{}")
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config))
        first = start_tap(config_path, state, tmp_path / "a.out", tmp_path / "a.err")
        deadline = time.monotonic() + 60
        while not any(r.route == "messages" for r in emu.requests):  # the first is reading
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        # A slow backfill: the first is held (its pid is in the lock file) meanwhile.
        first_pid = int((run_dir / LOCK_NAME).read_text().split()[1])
        assert first_pid == first.pid
        os.kill(first_pid, signal.SIGSTOP)
        command = [sys.executable, "-m", "tap_discord", "--config", str(config_path)]
        try:
            second = subprocess.run(
                [*command, "--state", str(state)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                env={**_clean_env(), **LOG_LEVEL_ENV},
                timeout=120,
                check=False,
            )
        finally:
            os.kill(first_pid, signal.SIGCONT)
        assert first.poll() is None, "the first run was still going"
        first.wait(120)
        expected = visible_newest(emu)
        # The lock ends with its run: a third run on the same files goes.
        third = subprocess.run(
            [*command, "--state", str(state)],
            capture_output=True,
            cwd=ROOT,
            env=_clean_env(),
            timeout=120,
            check=False,
        )
    # The second stops at once: one error line naming the directory, no output.
    assert second.returncode == 1
    assert not second.stdout
    errors = [line for line in second.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, second.stderr
    assert "another tap-discord run (pid" in errors[0] and str(run_dir) in errors[0]
    assert "Traceback" not in second.stderr
    assert '"status":"failed"' in second.stderr  # its summary says so
    # The first is whole: every channel's bookmark at its newest message.
    assert first.returncode == 0, (tmp_path / "a.err").read_text()[-2000:]
    messages = _parse((tmp_path / "a.out").read_text())
    final = next(m["value"] for m in reversed(messages) if m["type"] == "STATE")
    assert channel_bookmarks(final) == expected
    read = [m for m in messages if m["type"] == "RECORD" and m["stream"] == "messages"]
    assert len(read) == 4 * 500
    assert third.returncode == 0


def test_runs_on_different_state_directories_do_not_block_each_other(tmp_path: Path) -> None:
    with Emulator(WorldSpec.small(guilds=1), bot_token=TOKEN) as emu:
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps({"bot_token": TOKEN, "api_url": emu.api_url}))
        procs = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            state = tmp_path / name / "state.json"
            state.write_text("{}")
            err = tmp_path / f"{name}.err"
            procs.append((start_tap(config_path, state, tmp_path / f"{name}.out", err), err))
        for proc, err in procs:
            assert proc.wait(120) == 0, err.read_text()[-2000:]
