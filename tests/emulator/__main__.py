"""`python -m tests.emulator`: serve a preset world until SIGTERM or SIGINT.

Prints exactly one line, `EMULATOR_READY <api_url>`, on stdout once it accepts
connections; the README demo and the benchmarks wait for it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from tests.emulator.core import Emulator
from tests.emulator.spec import WorldSpec

WORLDS = ("small", "demo", "bench_rate_limited", "bench_bulk")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m tests.emulator", description=__doc__)
    parser.add_argument("--world", choices=WORLDS, default="demo")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--bot-token", default="test-bot-token")
    parser.add_argument("--rate-limits", choices=("real", "off"), default="off")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--ready-file", type=Path, default=None, help="also write the url here")
    parser.add_argument(
        "--oauth-client",
        action="append",
        default=[],
        metavar="ID:SECRET",
        help="register an OAuth2 client (repeatable)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Build the world, serve it, announce readiness, wait for a signal."""
    args = parse_args(argv)
    changes = {} if args.seed is None else {"seed": args.seed}
    spec = WorldSpec.preset(args.world, **changes)
    emulator = Emulator(spec, bot_token=args.bot_token, port=args.port)
    emulator.settings.update(rate_limits=args.rate_limits, time_scale=args.time_scale)
    for pair in args.oauth_client:
        client_id, _, secret = pair.partition(":")
        emulator.settings.oauth_clients[client_id] = secret
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    with emulator:
        if args.ready_file is not None:
            args.ready_file.write_text(emulator.api_url + "\n")
        print(f"EMULATOR_READY {emulator.api_url}", flush=True)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
