"""Deletions benchmark: what marking deleted rows costs a scheduled run.

    python bench/deletions_bench.py

For the test world (rate limits off) and the 40-channel rate-limited benchmark world
(Discord's real limits): a first sync with `message_lookback: P1D` and
`emit_activate_version_messages`, then an unchanged rerun from its state with no
lookback, `P1D` and `P7D`. Per rerun: seconds, requests (message pages among them),
messages re-emitted and their bytes, and the lookback windows kept in the state
(message ids, bytes, bytes per id). `ACTIVATE_VERSION` itself costs no request.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `tests` importable
    sys.path.insert(0, str(ROOT))

from tap_discord.seenwindow import WINDOWS_KEY, SeenWindow  # noqa: E402
from tests.emulator import Emulator, WorldSpec  # noqa: E402
from tests.tapharness import run_tap  # noqa: E402

TOKEN = "bench-deletions-bot-token"
LOOKBACKS = (None, "P1D", "P7D")


def measure(spec: WorldSpec, label: str, *, real_limits: bool) -> None:
    """One world: the first sync, then one unchanged rerun per lookback."""
    with Emulator(spec, bot_token=TOKEN) as emu:
        if real_limits:
            emu.settings.rate_limits = "real"
        base = {"bot_token": TOKEN, "api_url": emu.api_url, "emit_activate_version_messages": True}
        first = run_tap({**base, "message_lookback": "P1D"}, timeout=900)
        if first.returncode != 0:
            raise RuntimeError(first.stderr[-3000:])
        for lookback in LOOKBACKS:
            emu.reset_requests()
            started = time.monotonic()
            run = run_tap({**base, "message_lookback": lookback}, state=first.final_state)
            seconds = time.monotonic() - started
            if run.returncode != 0:
                raise RuntimeError(run.stderr[-3000:])
            routes = Counter(r.route for r in emu.requests)
            parts = run.final_state["bookmarks"]["messages"]["partitions"]
            kept = [w for p in parts for w in p.get(WINDOWS_KEY, {}).values()]
            ids = sum(len(SeenWindow.decode(w).ids) for w in kept)
            text = sum(len(w) for w in kept)
            records = run.records("messages")
            record_bytes = sum(len(json.dumps(r)) for r in records)
            print(
                f"| {label} | {lookback or 'off'} | {seconds:.1f} | {sum(routes.values())} | "
                f"{routes['messages']} | {len(records)} ({record_bytes / 1e6:.2f} MB) | "
                f"{len(kept)} windows, {ids} ids, {text} B ({text / max(ids, 1):.1f} B/id) |"
            )


def main() -> int:
    """Print one table row per world and lookback."""
    print("| world | lookback | s | requests | message requests | re-emitted | windows |")
    print("|---|---|---|---|---|---|---|")
    measure(WorldSpec.small(), "test world", real_limits=False)
    measure(WorldSpec.bench_rate_limited(), "40 channels, real limits", real_limits=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
