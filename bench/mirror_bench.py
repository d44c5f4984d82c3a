"""Requests per run of `pins`, `message_reactions` and `poll_votes`.

    python bench/mirror_bench.py                 # the test world and the 40-channel world
    python bench/mirror_bench.py --world small

Against the emulator (in this process, rate limits off: requests are counted, and the
time they take at Discord's 50 requests a second is derived from the count), with
`message_lookback` P1D and three pins per text channel:

1. a first full sync;
2. a rerun with nothing changed (goal: no pin, reaction or poll request at all);
3. a rerun after changes in three channels: a reaction added, one taken back, a
   super reaction added, a pin, an unpin, a vote and a finalized poll.

Printed per run: requests by route, records (and tombstones) per stream, and the size
of the three streams' maps in the final STATE.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `tests` importable
    sys.path.insert(0, str(ROOT))

from tests.emulator import Emulator, WorldSpec  # noqa: E402
from tests.tapharness import TapRun, discover, run_tap, select  # noqa: E402

TOKEN = "bench-mirror-bot-token"
FOLLOWERS = ("pins", "message_reactions", "poll_votes")
ROUTES = ("pins", "reactions", "poll_voters", "messages")
MAPS = ("pin_marks", "pinned_ids", "reaction_counts", "reaction_backlog", "poll_counts")


def worlds(name: str) -> dict[str, WorldSpec]:
    """The worlds to measure: the test world, the 40-channel rate-limit world, or both."""
    found = {
        "small": dataclasses.replace(WorldSpec.small(), pins_per_channel=3),
        "bench_rate_limited": WorldSpec.bench_rate_limited(pins_per_channel=3),
    }
    return found if name == "both" else {name: found[name]}


def tap_run(emu: Emulator, catalog: dict[str, Any], state: dict[str, Any] | None) -> TapRun:
    """One run of the real tap, its own limiter not pacing it, no reaction budget."""
    config = {
        "bot_token": TOKEN,
        "api_url": emu.api_url,
        "max_requests_per_second": 10_000,
        "message_lookback": "P1D",
        "reaction_request_budget": 0,
    }
    run = run_tap(config, state=state, catalog=catalog, timeout=1800)
    if run.returncode != 0:
        raise RuntimeError(run.stderr[-3000:])
    return run


def change_some(emu: Emulator) -> None:
    """Reactions, pins and votes change in three channels (on new messages)."""
    guild = emu.world.guilds[0]["id"]
    channels = [c["id"] for c in emu.world.channels[guild] if emu.visible_messages(c["id"])][:3]
    users = [str(m["user"]["id"]) for m in emu.world.members[guild][:3]]
    for channel in channels:
        first, second = (m["id"] for m in emu.add_messages(channel, 2))
        emu.react(channel, first, {"id": None, "name": "👍"}, users[0])
        emu.react(channel, second, {"id": None, "name": "🎉"}, users[1], burst=True)
        emu.pin_message(channel, first)
        poll = emu.post_poll(channel, ["Yes", "No"])["id"]
        emu.vote(channel, poll, 1, users[2])


def change_again(emu: Emulator) -> None:
    """Take back, add, unpin, vote and finalize on what `change_some` made."""
    guild = emu.world.guilds[0]["id"]
    users = [str(m["user"]["id"]) for m in emu.world.members[guild][:4]]
    for channel in [c["id"] for c in emu.world.channels[guild] if emu.visible_messages(c["id"])][
        :3
    ]:
        messages = emu.visible_messages(channel)
        first, second, poll = (m["id"] for m in messages[-3:])
        emu.react(channel, first, {"id": None, "name": "👍"}, users[0], add=False)
        emu.react(channel, second, {"id": None, "name": "🚀"}, users[3])
        emu.unpin_message(channel, first)
        emu.vote(channel, poll, 2, users[3])
        emu.finalize_poll(channel, poll)


def measure(name: str, run: TapRun, emu: Emulator) -> dict[str, Any]:
    """Requests by route, records and tombstones per stream, state bytes of the maps."""
    routes = Counter(r.route for r in emu.requests if r.route in ROUTES)
    records = {s: len(run.records(s)) for s in FOLLOWERS}
    tombstones = {s: sum(1 for r in run.records(s) if r.get("_sdc_deleted_at")) for s in FOLLOWERS}
    maps = [
        {key: value for key, value in partition.items() if key in MAPS}
        for stream in FOLLOWERS
        for partition in run.final_state["bookmarks"].get(stream, {}).get("partitions", [])
    ]
    follower = sum(routes[r] for r in ("pins", "reactions", "poll_voters"))
    return {
        "run": name,
        "requests": dict(routes),
        "follower_requests": follower,
        "seconds_at_50_per_s": round(follower / 50, 1),
        "records": records,
        "tombstones": tombstones,
        "state_bytes": len(json.dumps(maps)),
    }


def bench_world(spec: WorldSpec) -> list[dict[str, Any]]:
    """The three runs on one world."""
    results = []
    with Emulator(spec, bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url}
        catalog = select(discover(config), {"guilds", "messages", *FOLLOWERS})
        emu.reset_requests()
        first = tap_run(emu, catalog, None)
        results.append(measure("first sync", first, emu))
        emu.reset_requests()
        unchanged = tap_run(emu, catalog, first.final_state)
        results.append(measure("unchanged rerun", unchanged, emu))
        change_some(emu)
        emu.reset_requests()
        changed = tap_run(emu, catalog, unchanged.final_state)
        results.append(measure("rerun after changes", changed, emu))
        change_again(emu)
        emu.reset_requests()
        again = tap_run(emu, catalog, changed.final_state)
        results.append(measure("rerun after removals", again, emu))
    return results


def main(argv: list[str] | None = None) -> int:
    """Measure each world and print one line per run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--world", choices=("small", "bench_rate_limited", "both"), default="both")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    figures = {}
    for name, spec in worlds(args.world).items():
        figures[name] = bench_world(spec)
        for row in figures[name]:
            print(name, json.dumps(row, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
