"""Rate-limit benchmark: a full sync by the real tap against the emulator's real limits.

    python bench/ratelimit_bench.py            # 40 channels x 2,000 messages, 2,000 members
    python bench/ratelimit_bench.py --quick    # 8 channels x 500 messages (well under a minute)

The emulator runs in its own process (`serve` below: the `bench_rate_limited` world, or
a smaller one, with `--rate-limits real`), so it never competes with the tap for a GIL,
and writes its request log to a file when it stops. The tap runs as Meltano runs it:
`python -m tap_discord --config ...`, its Singer output going to a file that is checked
only after the clock stops.

Printed: wall time, requests (total, per route, against what the data needs), 429s by
scope, the theoretical minimum wall time for those requests under those limits (for each
bucket and major parameter its requests divided by its rate, all requests divided by the
global rate; the largest of these), and the ratio of the wall time to it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `tests.emulator` importable
    sys.path.insert(0, str(ROOT))

from bench.taprun import TapProcess, run_tap_process  # noqa: E402
from tests.emulator import Emulator, WorldSpec  # noqa: E402
from tests.emulator.launch import ready_url, serve_until_signalled  # noqa: E402
from tests.emulator.routes import ROUTES  # noqa: E402

TOKEN = "bench-ratelimit-bot-token"
GLOBAL_LIMIT = 50
"""Discord's global limit: requests per second per bot."""
FULL = {"channels": 40, "messages": 2000}
QUICK = {"channels": 8, "messages": 500}
MESSAGE_PAGE = 100
MEMBER_PAGE = 1000
READY_TIMEOUT = 120.0


# The emulator process ------------------------------------------------------------------


def serve(channels: int, messages: int, time_scale: float, log_path: Path) -> int:
    """Serve the benchmark world with real limits until SIGTERM; then write the request log.

    Writes the ground truth next to the log, then prints `EMULATOR_READY <api_url>` once
    listening, as `python -m tests.emulator` does.
    """
    spec = WorldSpec.bench_rate_limited(text_channels=channels, messages_per_channel=messages)
    emulator = Emulator(spec, bot_token=TOKEN)
    emulator.settings.update(rate_limits="real", time_scale=time_scale)
    truth_path(log_path).write_text(json.dumps(ground_truth(emulator)), encoding="utf-8")
    with emulator:
        serve_until_signalled(emulator)
        records = emulator.requests
    with log_path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record._asdict()) + "\n")
    return 0


def ground_truth(emulator: Emulator) -> dict[str, Any]:
    """What a complete sync holds: members per guild; per channel, its visible messages'
    count and newest id."""
    world = emulator.world
    channels = {}
    for channel_id in world.messages:
        visible = emulator.visible_messages(channel_id)
        if visible:
            channels[channel_id] = {"count": len(visible), "newest": visible[-1]["id"]}
    return {
        "members": {guild: len(members) for guild, members in world.members.items()},
        "channels": channels,
    }


def truth_path(log_path: Path) -> Path:
    """Where `serve` writes the ground truth (beside its request log)."""
    return log_path.with_name("truth.json")


@dataclass
class EmulatorProcess:
    """The emulator subprocess and where it will leave its request log."""

    process: subprocess.Popen[str]
    api_url: str
    log_path: Path

    @property
    def base_url(self) -> str:
        """The server root (control endpoints live under `/_emulator/`)."""
        return self.api_url.split("/api/", 1)[0]

    def stats(self) -> dict[str, Any]:
        """`GET /_emulator/stats`: total requests, by kind and by route."""
        with urllib.request.urlopen(f"{self.base_url}/_emulator/stats", timeout=10) as reply:
            return dict(json.load(reply))

    def truth(self) -> dict[str, Any]:
        """The ground truth `serve` wrote before it became ready."""
        return dict(json.loads(truth_path(self.log_path).read_text(encoding="utf-8")))

    def stop(self) -> list[dict[str, Any]]:
        """SIGTERM, wait, and read the request log the emulator wrote on its way out."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if not self.log_path.exists():
            raise RuntimeError("the emulator exited without writing its request log")
        with self.log_path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]


def start_emulator(channels: int, messages: int, time_scale: float, tmp: Path) -> EmulatorProcess:
    """Start `serve` in a subprocess and wait for its ready line."""
    log_path = tmp / "requests.jsonl"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "serve",
        f"--channels={channels}",
        f"--messages={messages}",
        f"--time-scale={time_scale}",
        f"--log={log_path}",
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    api_url = ready_url(process, READY_TIMEOUT)
    return EmulatorProcess(process, api_url, log_path)


# The tap -----------------------------------------------------------------------------


def run_tap(
    api_url: str, time_scale: float, max_workers: int | None, buffer_mb: int | None, tmp: Path
) -> TapProcess:
    """`python -m tap_discord --config ...` with default settings but the API URL."""
    config: dict[str, Any] = {
        "bot_token": TOKEN,
        "api_url": api_url,
        "max_requests_per_second": GLOBAL_LIMIT / time_scale,
    }
    if max_workers is not None:
        config["max_workers"] = max_workers
    if buffer_mb is not None:
        config["prefetch_buffer_mb"] = buffer_mb
    return run_tap_process(config, tmp)


@dataclass
class Output:
    """What the tap wrote, reduced to what the benchmark checks."""

    records: Counter[str] = field(default_factory=Counter)
    message_ids: Counter[str] = field(default_factory=Counter)
    messages_per_channel: Counter[str] = field(default_factory=Counter)
    newest_per_channel: dict[str, int] = field(default_factory=dict)
    member_ids: Counter[tuple[str, str]] = field(default_factory=Counter)


def read_output(path: Path) -> Output:
    """Count records per stream and collect message and member ids."""
    out = Output()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.startswith('{"type":"RECORD"'):
                continue
            message = json.loads(line)
            stream, record = message["stream"], message["record"]
            out.records[stream] += 1
            if stream == "messages":
                channel = str(record["channel_id"])
                out.message_ids[str(record["id"])] += 1
                out.messages_per_channel[channel] += 1
                newest = out.newest_per_channel.get(channel, 0)
                out.newest_per_channel[channel] = max(newest, int(record["id"]))
            elif stream == "members":
                out.member_ids[(str(record["guild_id"]), str(record["user_id"]))] += 1
    return out


# Figures -----------------------------------------------------------------------------


@dataclass
class Bound:
    """A lower bound on the wall time: `requests` at `limit` per `window` seconds."""

    name: str
    requests: int
    limit: int
    window: float

    @property
    def seconds(self) -> float:
        """Requests divided by the rate (the issue's definition)."""
        return self.requests * self.window / self.limit

    @property
    def sliding_seconds(self) -> float:
        """First to last request when `limit` may go at once in any `window`: a tighter
        bound for few requests (one request at 1 per 10 s takes no time, not 10 s)."""
        return (-(-self.requests // self.limit) - 1) * self.window


def bounds(log: list[dict[str, Any]], time_scale: float) -> list[Bound]:
    """One bound per rate-limited bucket and major parameter, and the global one; largest
    first. Every request counts (429s and retries too): these are the requests made."""
    sizes = {route.name: (route.limit, route.window) for route in ROUTES if route.limit}
    per_bucket = Counter((r["route"], r["major"] or "") for r in log)
    found = [
        Bound(f"{route} [{major}]" if major else route, n, sizes[route][0], sizes[route][1])
        for (route, major), n in per_bucket.items()
        if route in sizes
    ]
    found.append(Bound("global", len(log), GLOBAL_LIMIT, 1.0))
    for bound in found:
        bound.window *= time_scale
    return sorted(found, key=lambda b: (b.seconds, b.sliding_seconds), reverse=True)


@dataclass
class Report:
    """Every figure the benchmark prints (also written with --json)."""

    mode: str
    channels: int
    messages_per_channel: int
    time_scale: float
    max_workers: int | None
    exit_code: int
    wall_seconds: float
    active_seconds: float
    requests: int
    requests_by_route: dict[str, int]
    requests_by_kind: dict[str, int]
    stats_agree: bool
    needed: dict[str, int]
    route_429: int
    global_429: int
    shared_429: int
    first_429s: list[str]
    theoretical_minimum_seconds: float
    sliding_minimum_seconds: float
    binding: list[dict[str, Any]]
    ratio: float
    sliding_ratio: float
    records: dict[str, int]
    data_complete: bool
    problems: list[str]


def build_report(
    args: argparse.Namespace,
    tap: TapProcess,
    log: list[dict[str, Any]],
    stats: dict[str, Any],
    truth: dict[str, Any],
    output: Output,
) -> Report:
    """Turn the request log, the emulator's stats and the tap's output into figures."""
    by_route = Counter(r["route"] for r in log)
    by_kind = Counter(r["kind"] for r in log)
    stats_agree = (
        stats.get("requests") == len(log)
        and stats.get("by_route") == dict(by_route)
        and stats.get("by_kind") == dict(by_kind)
    )
    limits = bounds(log, args.time_scale)
    minimum = max((b.seconds for b in limits), default=0.0)
    sliding = max((b.sliding_seconds for b in limits), default=0.0)
    start = min((r["time"] for r in log), default=0.0)
    active = max((r["time"] for r in log), default=0.0) - start
    throttled = sorted((r for r in log if r["status"] == 429), key=lambda r: r["time"])
    problems = check_output(truth, output)
    return Report(
        mode=args.mode,
        channels=args.channels,
        messages_per_channel=args.messages,
        time_scale=args.time_scale,
        max_workers=args.max_workers,
        exit_code=tap.returncode,
        wall_seconds=round(tap.wall_seconds, 3),
        active_seconds=round(active, 3),
        requests=len(log),
        requests_by_route=dict(by_route.most_common()),
        requests_by_kind=dict(by_kind.most_common()),
        stats_agree=stats_agree,
        needed=pages_needed(truth),
        route_429=by_kind["route_429"],
        global_429=by_kind["global_429"],
        shared_429=by_kind["shared_429"],
        first_429s=[
            f"{r['time'] - start:.2f} s {r['kind']} {r['route']} [{r['major']}]"
            for r in throttled[:10]
        ],
        theoretical_minimum_seconds=round(minimum, 3),
        sliding_minimum_seconds=round(sliding, 3),
        binding=[
            {
                "bucket": b.name,
                "requests": b.requests,
                "rate": f"{b.limit}/{b.window:g} s",
                "seconds": round(b.seconds, 3),
                "sliding_seconds": round(b.sliding_seconds, 3),
            }
            for b in _distinct_bounds(limits)
        ],
        ratio=round(tap.wall_seconds / minimum, 2) if minimum else 0.0,
        sliding_ratio=round(tap.wall_seconds / sliding, 2) if sliding else 0.0,
        records=dict(output.records),
        data_complete=not problems,
        problems=problems,
    )


def pages_needed(truth: dict[str, Any]) -> dict[str, int]:
    """Requests the data needs: a message page per 100 per channel with messages (a
    full page that reaches the channel's newest message is its last: no empty page); a
    member page per 1,000 per guild, and the empty page after a full last one."""
    channels = truth["channels"].values()
    return {
        "messages": sum(-(-c["count"] // MESSAGE_PAGE) for c in channels),
        "members": sum(n // MEMBER_PAGE + 1 for n in truth["members"].values()),
    }


def _distinct_bounds(limits: list[Bound], total: int = 6) -> list[Bound]:
    """The largest bounds, one per route, the global one included."""
    shown: list[Bound] = []
    routes: set[str] = set()
    for bound in limits:
        route = bound.name.split(" ", 1)[0]
        if route not in routes:
            shown.append(bound)
            routes.add(route)
    return shown[:total]


def check_output(truth: dict[str, Any], output: Output) -> list[str]:
    """Every message and member exactly once; each channel complete up to its newest."""
    problems = []
    doubled = sum(n - 1 for n in output.message_ids.values() if n > 1)
    if doubled:
        problems.append(f"{doubled} duplicate message records")
    for channel, want in truth["channels"].items():
        got = output.messages_per_channel.get(channel, 0)
        if got != want["count"] or output.newest_per_channel.get(channel) != int(want["newest"]):
            problems.append(f"channel {channel}: {got} of {want['count']} messages")
    extra = set(output.messages_per_channel) - set(truth["channels"])
    if extra:
        problems.append(f"messages from unexpected channels {sorted(extra)}")
    members = sum(truth["members"].values())
    if len(output.member_ids) != members or sum(output.member_ids.values()) != members:
        problems.append(
            f"{sum(output.member_ids.values())} member records "
            f"({len(output.member_ids)} distinct), expected {members}"
        )
    return problems


def render(report: Report) -> str:
    """The human-readable summary."""
    scale = "unscaled" if report.time_scale == 1 else "windows scaled"
    lines = [
        f"tap-discord rate-limit benchmark ({report.mode}): 1 guild, {report.channels} text "
        f"channels x {report.messages_per_channel:,} messages, "
        f"{report.records.get('members', 0):,} members; Discord's limits "
        f"x{report.time_scale:g} ({scale})",
        f"tap exit code        {report.exit_code}"
        + (f" (max_workers={report.max_workers})" if report.max_workers else ""),
        f"wall time            {report.wall_seconds:.1f} s (tap process; first to last "
        f"request {report.active_seconds:.1f} s)",
        f"requests             {report.requests:,} "
        f"({', '.join(f'{k} {v:,}' for k, v in report.requests_by_kind.items())})"
        + ("" if report.stats_agree else "  [!] /_emulator/stats disagrees with the log"),
    ]
    for route, count in report.requests_by_route.items():
        need = report.needed.get(route)
        extra = f"  (the data needs {need:,}; {count - need:+d})" if need is not None else ""
        lines.append(f"  {route:<20} {count:>6,}{extra}")
    lines.append(
        f"429s                 route {report.route_429}, global {report.global_429}, "
        f"shared {report.shared_429}"
    )
    lines += [f"  at {line}" for line in report.first_429s]
    lines.append(
        f"theoretical minimum  {report.theoretical_minimum_seconds:.1f} s = the largest of "
        "requests / rate, per bucket and major parameter and globally "
        f"(sliding-window bound: {report.sliding_minimum_seconds:.1f} s)"
    )
    for bound in report.binding:
        lines.append(
            f"  {bound['bucket']:<40} {bound['requests']:>6,} req at {bound['rate']:<9} "
            f"= {bound['seconds']:6.1f} s  (sliding {bound['sliding_seconds']:.1f} s)"
        )
    records = ", ".join(f"{k} {v:,}" for k, v in sorted(report.records.items()))
    lines += [
        f"ratio                {report.ratio:.2f} = wall time / theoretical minimum "
        f"({report.sliding_ratio:.2f} against the sliding-window bound)",
        f"records              {records}",
        "data                 "
        + ("complete, no duplicates" if report.data_complete else "; ".join(report.problems)),
    ]
    return "\n".join(lines)


# Command line ------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Options; `serve` is the emulator subprocess's own entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("mode", nargs="?", choices=("run", "serve"), default="run")
    parser.add_argument("--quick", action="store_true", help="8 channels x 500 messages")
    parser.add_argument("--channels", type=int, help="text channels (default 40; quick 8)")
    parser.add_argument("--messages", type=int, help="messages per channel (2000; quick 500)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply every limit window (1 = Discord's real limits; the tap's global "
        "rate is divided by it)",
    )
    parser.add_argument("--max-workers", type=int, help="the tap's max_workers (its default)")
    parser.add_argument("--buffer-mb", type=int, help="the tap's prefetch_buffer_mb (its default)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--keep", type=Path, help="copy the request log, tap output and tap log into this folder"
    )
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    args.channels = args.channels or sizes["channels"]
    args.messages = args.messages if args.messages is not None else sizes["messages"]
    if args.mode == "run":
        args.mode = "quick" if args.quick else "full"
        if (args.channels, args.messages) != (sizes["channels"], sizes["messages"]):
            args.mode = "custom"
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, as `serve`, the emulator process)."""
    args = parse_args(argv)
    if args.mode == "serve":
        return serve(args.channels, args.messages, args.time_scale, args.log)
    with tempfile.TemporaryDirectory(prefix="ratelimit-bench-") as name:
        tmp = Path(name)
        emulator = start_emulator(args.channels, args.messages, args.time_scale, tmp)
        try:
            tap = run_tap(emulator.api_url, args.time_scale, args.max_workers, args.buffer_mb, tmp)
            stats = emulator.stats()
            truth = emulator.truth()
        finally:
            log = emulator.stop()
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for path in (emulator.log_path, tap.stdout_path, tap.stderr_path):
                shutil.copy(path, args.keep / path.name)
        if tap.returncode != 0:
            sys.stderr.write(tap.stderr_path.read_text(encoding="utf-8")[-4000:])
        report = build_report(args, tap, log, stats, truth, read_output(tap.stdout_path))
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
    return 0 if report.exit_code == 0 and report.data_complete and report.stats_agree else 1


if __name__ == "__main__":
    sys.exit(main())
