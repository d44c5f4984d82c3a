"""End to end, unattended runs: overlapping runs of one job, and shard jobs at once.

Real Meltano, target-postgres and PostgreSQL (the fixtures of `test_e2e_meltano.py`)
against an emulator with Discord's real rate limits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import typing as t
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from scripts.demo import STATE_ID, Meltano
from tests.emulator import Emulator, WorldSpec
from tests.test_e2e_meltano import installed, postgres, snapshot  # noqa: F401 (fixtures)

if t.TYPE_CHECKING:
    from tests.pgcluster import ThrowawayPostgres

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("installed")]

TOKEN = "e2e-ops-bot-token-secret"
JOB = "discord-to-postgres"
REPO = Path(__file__).resolve().parent.parent
#: The main extractor's run lock (tap_discord/runlock.py), which names the tap's pid.
LOCK_FILE = REPO / ".meltano/run/tap-discord/.tap-discord.lock"
SHARDS = {"a": "tap_discord_shard_a", "b": "tap_discord_shard_b"}


def meltano_for(emu: Emulator, pg: ThrowawayPostgres, workdir: Path, **extra: str) -> Meltano:
    return Meltano(
        workdir=workdir,
        settings={
            "TAP_DISCORD_BOT_TOKEN": TOKEN,
            "TAP_DISCORD_API_URL": emu.api_url,
            "TARGET_POSTGRES_HOST": pg.host,
            "TARGET_POSTGRES_PORT": str(pg.port),
            "TARGET_POSTGRES_USER": pg.user,
            "TARGET_POSTGRES_PASSWORD": pg.password,
            "TARGET_POSTGRES_DATABASE": pg.database,
            **extra,
        },
    )


def start(meltano: Meltano, log: Path, *args: str) -> subprocess.Popen[str]:
    """`meltano <args>` in the background, its output to `log`."""
    return subprocess.Popen(
        meltano.argv(*args),
        cwd=meltano.project,
        env=meltano.env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def attempt(meltano: Meltano, *args: str) -> subprocess.CompletedProcess[str]:
    """`meltano <args>`, which may fail."""
    return subprocess.run(
        meltano.argv(*args),
        cwd=meltano.project,
        env=meltano.env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )


def newest_by_channel(emu: Emulator, guild: str | None = None) -> dict[str, str]:
    """Channel or thread id -> its newest visible message id (a whole state's bookmark)."""
    found = {}
    for channel_id in emu.world.messages:
        visible = emu.visible_messages(channel_id)
        owner = str(emu.world.index[channel_id].get("guild_id"))
        if visible and (guild is None or owner == guild):
            found[channel_id] = str(visible[-1]["id"])
    return found


def bookmarks(state: dict[str, t.Any]) -> dict[str, str]:
    partitions = state["singer_state"]["bookmarks"]["messages"]["partitions"]
    return {c: b for p in partitions for c, b in p.get("channel_bookmarks", {}).items()}


def message_ids(emu: Emulator, guild: str | None = None) -> set[tuple[str, ...]]:
    return {
        (str(m["id"]),)
        for channel_id in newest_by_channel(emu, guild)
        for m in emu.visible_messages(channel_id)
    }


# Overlap ---------------------------------------------------------------------------------


def test_an_overlapping_run_of_the_job_is_refused_and_the_first_completes(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    pg: ThrowawayPostgres = request.getfixturevalue("postgres")
    spec = WorldSpec.bench_rate_limited(
        text_channels=3, messages_per_channel=500, members=20, audit_log_entries=10
    )
    with Emulator(spec, bot_token=TOKEN) as emu:
        emu.settings.update(rate_limits="real")
        meltano = meltano_for(emu, pg, tmp_path)
        first = start(meltano, tmp_path / "first.log", "run", JOB)
        deadline = time.monotonic() + 300
        while not any(r.route == "messages" for r in emu.requests):  # the tap is reading
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        # A slow backfill: the first run's tap is held (its pid is in its lock file)...
        tap_pid = int(LOCK_FILE.read_text().split()[1])
        os.kill(tap_pid, signal.SIGSTOP)
        try:
            # ...when the hour strikes again: Meltano refuses the same state ID while it
            # runs, and forced, the tap refuses the run files the first one is using.
            with ThreadPoolExecutor(2) as pool:
                second_run = pool.submit(attempt, meltano, "run", JOB)
                forced_run = pool.submit(attempt, meltano, "run", "--force", JOB)
            second, forced = second_run.result(), forced_run.result()
        finally:
            os.kill(tap_pid, signal.SIGCONT)
        assert first.poll() is None, "the first run was still going"
        assert first.wait(300) == 0, (tmp_path / "first.log").read_text()[-3000:]
        expected = newest_by_channel(emu)
        messages = message_ids(emu)
    assert second.returncode != 0
    assert f"Another '{STATE_ID}' pipeline is already running" in second.stdout + second.stderr
    assert forced.returncode != 0
    assert "another tap-discord run (pid" in forced.stdout + forced.stderr
    # The state is the first run's, whole; the table holds every message once.
    assert bookmarks(meltano.state()) == expected
    loaded = snapshot(pg.dsn).keys["messages"]
    assert len(loaded) == len(set(loaded)) and set(loaded) == messages


# Shards ----------------------------------------------------------------------------------


def test_two_shard_jobs_at_once_share_the_global_limit_without_a_429(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    pg: ThrowawayPostgres = request.getfixturevalue("postgres")
    # Each shard alone would go above its share: 25 channels' pages at once, then the
    # reaction lists of their messages, fetched at the global rate.
    spec = WorldSpec.bench_rate_limited(
        guilds=2, text_channels=25, messages_per_channel=120, members=50, audit_log_entries=20
    )
    with Emulator(spec, bot_token=TOKEN) as emu:
        emu.settings.update(rate_limits="real")  # 50 requests/s for the one bot token
        guilds = [str(g["id"]) for g in emu.world.guilds]
        meltano = meltano_for(
            emu,
            pg,
            tmp_path,
            TAP_DISCORD_SHARD_A_GUILD_IDS=f'["{guilds[0]}"]',
            TAP_DISCORD_SHARD_B_GUILD_IDS=f'["{guilds[1]}"]',
        )
        meltano("state", "list")  # creates the system database: not by two at once
        runs = {
            s: start(meltano, tmp_path / f"{s}.log", "run", f"discord-shard-{s}") for s in SHARDS
        }
        start_together(emu, dict(zip(SHARDS, guilds, strict=True)), runs)
        for shard, proc in runs.items():
            assert proc.wait(600) == 0, (tmp_path / f"{shard}.log").read_text()[-3000:]
        log = emu.requests
        truth = {
            s: (newest_by_channel(emu, g), message_ids(emu, g))
            for s, g in zip(SHARDS, guilds, strict=True)
        }
    kinds = Counter(r.kind for r in log)
    assert kinds["global_429"] == 0, kinds
    # Routes without a major parameter (the application, the bot's guild list) have one
    # bucket per token, which shards share: a 429 there is retried, and is all there is.
    throttled = {r.route for r in log if r.kind == "route_429"}
    assert throttled <= {"application", "user_guilds", "users_me"}, throttled
    # They read at the same time, and together never above 50 in any second.
    spans = []
    for newest, _ in truth.values():  # message requests are counted per channel
        times = [r.time for r in log if r.route == "messages" and r.major in newest]
        spans.append((min(times), max(times)))
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], "the shards overlapped"
    assert max_per_second(sorted(r.time for r in log)) <= 50
    for shard, schema in SHARDS.items():
        newest, messages = truth[shard]
        state = meltano.state(f"dev:tap-discord-shard-{shard}-to-target-postgres")
        assert bookmarks(state) == newest
        loaded = snapshot(pg.dsn, schema)
        assert set(loaded.keys["messages"]) == messages
        assert len(loaded.keys["guilds"]) == 1


def start_together(
    emu: Emulator, guilds: dict[str, str], runs: dict[str, subprocess.Popen[str]]
) -> None:
    """Hold the shard whose tap asks Discord first until the other's does too.

    Meltano's start-up takes seconds, more on a busy machine: without this, one shard
    could be done before the other begins.
    """
    held: list[int] = []
    started: set[str] = set()
    deadline = time.monotonic() + 300
    while len(started) < len(guilds):
        assert time.monotonic() < deadline and all(p.poll() is None for p in runs.values())
        asked = {r.major for r in emu.requests}
        for shard, guild in guilds.items():
            if shard not in started and guild in asked:
                started.add(shard)
                if len(started) < len(guilds):
                    lock = REPO / f".meltano/run/tap-discord-shard-{shard}/.tap-discord.lock"
                    held.append(int(lock.read_text().split()[1]))
                    os.kill(held[-1], signal.SIGSTOP)
        time.sleep(0.05)
    for pid in held:
        os.kill(pid, signal.SIGCONT)


def max_per_second(times: list[float]) -> int:
    """The most requests that arrived within any one second."""
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_shard_jobs_have_their_own_extractor_schema_and_share_of_the_limit(
    tmp_path: Path,
) -> None:
    meltano = Meltano(workdir=tmp_path, settings={"TAP_DISCORD_BOT_TOKEN": TOKEN})
    jobs = json.loads(meltano("job", "list", "--format=json").stdout)["jobs"]
    tasks = {job["job_name"]: job["tasks"] for job in jobs}
    shares = 0
    for shard, schema in SHARDS.items():
        extractor = f"tap-discord-shard-{shard}"
        assert tasks[f"discord-shard-{shard}"] == [f"{extractor} target-postgres"]
        config = json.loads(meltano("config", "print", extractor).stdout)
        assert config["bot_token"], "the token is inherited"
        shares += config["max_requests_per_second"]
        project = yaml.safe_load((REPO / "meltano.yml").read_text())
        plugin = next(p for p in project["plugins"]["extractors"] if p["name"] == extractor)
        assert plugin["inherit_from"] == "tap-discord" and plugin["load_schema"] == schema
    assert shares <= 50 - 10, "the shards leave room for the bot's own traffic"
