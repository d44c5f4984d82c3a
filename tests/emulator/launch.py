"""Run the emulator in a process of its own (benchmarks), and wait until it serves.

An emulator sharing the reader's process would also share its GIL, which skews any
timing; the launched process prints `EMULATOR_READY <api_url>` once it accepts
connections (as `python -m tests.emulator` does).
"""

from __future__ import annotations

import signal
import subprocess
import threading
from typing import IO, Any

READY_PREFIX = "EMULATOR_READY "


def serve_until_signalled(emulator: Any) -> None:
    """In the launched process, inside `with emulator`: print the ready line, then serve
    until SIGTERM or SIGINT."""
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    print(f"{READY_PREFIX}{emulator.api_url}", flush=True)
    while not done.wait(0.5):
        pass


def ready_url(process: subprocess.Popen[str], timeout: float) -> str:
    """The URL of the process's `EMULATOR_READY <url>` line; kill it if none comes in time."""
    found: list[str] = []

    def read(stdout: IO[str]) -> None:
        for line in stdout:
            if line.startswith(READY_PREFIX):
                found.append(line.split(maxsplit=1)[1].strip())
                return

    assert process.stdout is not None
    reader = threading.Thread(target=read, args=(process.stdout,), daemon=True)
    reader.start()
    reader.join(timeout)
    if not found:
        process.kill()
        raise RuntimeError("the emulator did not print EMULATOR_READY")
    return found[0]
