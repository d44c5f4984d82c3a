"""Incremental benchmark: what a scheduled run costs when little or nothing is new.

    python bench/incremental_bench.py             # 40 channels x 2,000 messages
    python bench/incremental_bench.py --messages 300

Against the emulator (in this process, rate limits off: only requests are counted):

1. a first full sync, whose last STATE is kept;
2. a second run from that state with nothing new: requests by route (goal: no
   message request at all);
3. new messages in 3 of the 40 channels (5, 100 and 250: a short page, a full page
   that ends at the channel's last message, several pages), a third run from the
   second's state: message requests per channel (goal: only those 3, one per 100
   new messages, rounded up) and the records emitted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `tests` importable
    sys.path.insert(0, str(ROOT))

from tests.emulator import Emulator, WorldSpec  # noqa: E402
from tests.tapharness import TapRun, run_tap  # noqa: E402

TOKEN = "bench-incremental-bot-token"
NEW_MESSAGES = (5, 100, 250)


def tap_run(emu: Emulator, state: dict[str, Any] | None) -> TapRun:
    """One run of the real tap from `state`, its own limiter not pacing it."""
    config = {"bot_token": TOKEN, "api_url": emu.api_url, "max_requests_per_second": 10_000}
    run = run_tap(config, state=state, timeout=900)
    if run.returncode != 0:
        raise RuntimeError(run.stderr[-3000:])
    return run


def message_requests(emu: Emulator) -> Counter[str]:
    """Message page requests per channel since the last reset."""
    return Counter(r.major for r in emu.requests if r.route == "messages")


def main(argv: list[str] | None = None) -> int:
    """Run the three syncs and print what each cost."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--channels", type=int, default=40)
    parser.add_argument("--messages", type=int, default=2000, help="per channel")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    spec = WorldSpec.bench_rate_limited(
        text_channels=args.channels, messages_per_channel=args.messages
    )
    figures: dict[str, Any] = {"load": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    with Emulator(spec, bot_token=TOKEN) as emu:
        first = tap_run(emu, None)
        figures["first_run"] = {
            "requests": len(emu.requests),
            "message_requests": sum(message_requests(emu).values()),
            "message_records": len(first.records("messages")),
        }
        emu.reset_requests()
        second = tap_run(emu, first.final_state)
        figures["nothing_new"] = {
            "requests": len(emu.requests),
            "by_route": dict(Counter(r.route for r in emu.requests).most_common()),
            "message_requests": sum(message_requests(emu).values()),
            "message_records": len(second.records("messages")),
        }
        channels = sorted(emu.world.messages, key=int)
        changed = {channels[i * len(channels) // 3]: n for i, n in enumerate(NEW_MESSAGES)}
        for channel_id, count in changed.items():
            emu.add_messages(channel_id, count)
        emu.reset_requests()
        third = tap_run(emu, second.final_state)
        asked = message_requests(emu)
        emitted = Counter(r["channel_id"] for r in third.records("messages"))
        figures["three_changed"] = {
            "requests": len(emu.requests),
            "message_requests": sum(asked.values()),
            "per_changed_channel": {
                cid: {"new": n, "requests": asked[cid], "records": emitted[cid]}
                for cid, n in changed.items()
            },
            "other_channels_asked": sorted(set(asked) - set(changed)),
            "message_records": len(third.records("messages")),
        }
    print(render(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    ok = (
        figures["nothing_new"]["message_requests"] == 0
        and not figures["three_changed"]["other_channels_asked"]
        and all(
            c["records"] == c["new"] and c["requests"] == -(-c["new"] // 100)
            for c in figures["three_changed"]["per_changed_channel"].values()
        )
    )
    return 0 if ok else 1


def render(figures: dict[str, Any]) -> str:
    """Human-readable summary."""
    first, idle, three = figures["first_run"], figures["nothing_new"], figures["three_changed"]
    lines = [
        f"tap-discord incremental benchmark (load {figures['load']})",
        f"first run        {first['requests']:>5} requests, {first['message_requests']} for "
        f"messages, {first['message_records']:,} message records",
        f"nothing new      {idle['requests']:>5} requests, {idle['message_requests']} for "
        f"messages, {idle['message_records']} message records "
        f"({', '.join(f'{k} {v}' for k, v in idle['by_route'].items())})",
        f"3 changed        {three['requests']:>5} requests, {three['message_requests']} for "
        f"messages, {three['message_records']} message records; other channels asked: "
        f"{len(three['other_channels_asked'])}",
    ]
    for cid, c in three["per_changed_channel"].items():
        lines.append(
            f"  channel {cid}: {c['new']} new -> {c['requests']} requests, {c['records']} records"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
