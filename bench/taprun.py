"""Run the tap as Meltano does, for the benchmarks: a process of its own, timed.

`python -m tap_discord --config <file>`, its Singer output to a file that is only read
after the clock stops, and none of the caller's `TAP_DISCORD_*` variables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class TapProcess:
    """Exit code, wall time and resource usage of one tap run; where its output went."""

    returncode: int
    wall_seconds: float
    stdout_path: Path
    stderr_path: Path
    #: The child's `os.wait4` usage: CPU seconds, peak RSS (`ru_maxrss`, KiB on Linux).
    usage: Any


def run_tap_process(config: dict[str, Any], tmp: Path) -> TapProcess:
    """Write `config` to `tmp`, run the tap on it, and wait for it to exit."""
    config_path = tmp / "config.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    stdout_path, stderr_path = tmp / "tap.out", tmp / "tap.err"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_DISCORD_")}
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "tap_discord", "--config", str(config_path)],
            cwd=ROOT,
            stdout=out,
            stderr=err,
            env=env,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
    return TapProcess(os.waitstatus_to_exitcode(status), wall, stdout_path, stderr_path, usage)
