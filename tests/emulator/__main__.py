"""`python -m tests.emulator --world demo --port 0 --bot-token T`: serve until SIGTERM.

Prints one line `EMULATOR_READY <api_url>` once it listens (the demo waits for it).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tests.emulator import Emulator, WorldSpec

WORLDS = {"small": WorldSpec.small, "demo": WorldSpec.demo}


def main() -> None:
    """Start the emulator with a named world and wait for a signal."""
    parser = argparse.ArgumentParser(prog="python -m tests.emulator")
    parser.add_argument("--world", choices=sorted(WORLDS), default="demo")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bot-token", default="demo-bot-token")
    parser.add_argument("--rate-limits", choices=["off", "real"], default="off")
    parser.add_argument("--time-scale", type=float, default=1.0)
    args = parser.parse_args()
    emulator = Emulator(WORLDS[args.world](), bot_token=args.bot_token, port=args.port)
    emulator.settings.rate_limits = args.rate_limits
    emulator.settings.time_scale = args.time_scale
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with emulator:
        print(f"EMULATOR_READY {emulator.api_url}", flush=True)
        stop.wait()
    sys.exit(0)


if __name__ == "__main__":
    main()
