"""End to end: real Meltano, real target-postgres, a real PostgreSQL, the emulator.

One module-scoped pipeline does what a user does: `meltano install`, then three runs
against the in-process emulator's demo world: `meltano run tap-discord
target-postgres` from no state (run 1) and after new messages were added (run 2), and
the job its hourly schedule runs, `meltano run discord-to-postgres`, with nothing new
(run 3). The tests compare every table with the emulator's ground truth, read the
state Meltano stored, and check that no Meltano command asks Meltano Hub for anything.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from scripts.demo import LOAD_SCHEMA, STATE_ID, Meltano, MeltanoError, message_bookmarks
from scripts.demo import NEW_MESSAGES as NEW_DEMO_MESSAGES
from tests import mirrortruth
from tests.guildrest_truth import KEYS as GUILD_REST_KEYS
from tests.guildrest_truth import expected as guild_rest_truth
from tests.pgcluster import ThrowawayPostgres, postgres_available
from tests.tapharness import as_loaded, assert_no_secrets, nul_paths

if t.TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
TOKEN = "e2e-meltano-bot-token"
README = (REPO / "README.md").read_text(encoding="utf-8")
NEW_MESSAGES = 30
#: The main job and its schedule in meltano.yml.
JOB = "discord-to-postgres"
SCHEDULE = "discord-to-postgres-hourly"

#: Primary key columns per table, as the tap declares them.
KEYS: dict[str, tuple[str, ...]] = {
    "guilds": ("id",),
    "channels": ("id",),
    "threads": ("id",),
    "messages": ("id",),
    "members": ("guild_id", "user_id"),
    "invites": ("code",),
    "roles": ("id",),
    "emojis": ("id",),
    "stickers": ("id",),
    "scheduled_events": ("id",),
    "audit_log": ("id",),
    "audit_log_users": ("id",),
    "audit_log_webhooks": ("id",),
    "audit_log_integrations": ("id",),
    "audit_log_threads": ("id",),
    "current_user": ("id",),
    "user_guilds": ("id",),
    "user_connections": ("type", "id"),
    "user_guild_members": ("guild_id", "user_id"),
    **GUILD_REST_KEYS,
    **mirrortruth.KEYS,
}


# Fixtures -----------------------------------------------------------------------------


class HubRecorder:
    """A stand-in Meltano Hub on loopback that records every request it gets."""

    def __init__(self) -> None:
        """Bind to a free port; serve on `with`."""
        hits: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(f"GET {self.path}")
                self.send_response(503)
                self.end_headers()

            def log_message(self, *args: t.Any) -> None:
                pass

        self.hits = hits
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def env(self) -> dict[str, str]:
        """Point every Hub setting of Meltano here."""
        return {"MELTANO_HUB_URL": self.url, "MELTANO_HUB_API_ROOT": f"{self.url}/meltano/api/v1"}

    def __enter__(self) -> HubRecorder:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Installed:
    """What the session's `meltano install` did."""

    seconds: float
    hub_hits: list[str]


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """`meltano install` once per session, with Meltano Hub pointed at a recorder.

    Plugins go to the project's .meltano/ and are reused by later sessions; a file
    lock keeps two concurrent test sessions from installing into it at once.
    """
    meltano = Meltano(workdir=tmp_path_factory.mktemp("install"), settings={})
    lock_dir = REPO / ".meltano"
    lock_dir.mkdir(exist_ok=True)
    with (lock_dir / ".e2e-install.lock").open("w") as lock, HubRecorder() as hub:
        fcntl.flock(lock, fcntl.LOCK_EX)
        started = time.monotonic()
        meltano("install", env=hub.env, log_name="install.log")
        seconds = time.monotonic() - started
    print(f"\nmeltano install: {seconds:.1f}s")
    return Installed(seconds=seconds, hub_hits=list(hub.hits))


@pytest.fixture(scope="module")
def postgres() -> Iterator[ThrowawayPostgres]:
    """A private PostgreSQL for this module (required in CI, skipped elsewhere)."""
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are missing (apt-get install postgresql-15)")
        pytest.skip("PostgreSQL server binaries are missing (apt-get install postgresql-15)")
    with ThrowawayPostgres(database="discord") as server:
        yield server


@pytest.fixture(scope="module")
def emulator() -> Iterator[t.Any]:
    """The in-process emulator with the demo world (its ground truth is inspectable)."""
    from tests.emulator import Emulator, WorldSpec

    # Pins in every text channel: the demo world has none of its own.
    with Emulator(
        dataclasses.replace(WorldSpec.demo(), pins_per_channel=2), bot_token=TOKEN
    ) as emu:
        yield emu


@dataclass
class Snapshot:
    """Every key of every table, when its row was last written, and which are deleted."""

    keys: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    batched_max: dict[str, t.Any] = field(default_factory=dict)
    message_batched: dict[str, t.Any] = field(default_factory=dict)
    #: Keys of the rows marked deleted (`_sdc_deleted_at` set), by table.
    deleted: dict[str, set[tuple[str, ...]]] = field(default_factory=dict)

    def key_set(self, table: str) -> set[tuple[str, ...]]:
        """The keys of the live rows (not marked deleted)."""
        return set(self.keys.get(table, [])) - self.deleted.get(table, set())


def snapshot(dsn: str, schema: str = LOAD_SCHEMA) -> Snapshot:
    """Read the keys and `_sdc_batched_at` of every table the target created."""
    import psycopg
    from psycopg import sql

    snap = Snapshot()
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        ]
        for table in tables:
            columns = KEYS.get(table, ("id",))
            query = sql.SQL("SELECT {}, _sdc_deleted_at, _sdc_batched_at FROM {}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                sql.Identifier(schema, table),
            )
            rows = conn.execute(query).fetchall()
            snap.keys[table] = [tuple(str(v) for v in row[:-2]) for row in rows]
            snap.deleted[table] = {
                tuple(str(v) for v in row[:-2]) for row in rows if row[-2] is not None
            }
            snap.batched_max[table] = max((row[-1] for row in rows), default=None)
            if table == "messages":
                snap.message_batched = {str(row[0]): row[-1] for row in rows}
    return snap


@dataclass
class Pipeline:
    """Snapshots, ground truth and timings of the three runs."""

    streams: set[str]
    expected_1: dict[str, set[tuple[str, ...]]]
    expected_2: dict[str, set[tuple[str, ...]]]
    after_1: Snapshot
    after_2: Snapshot
    after_3: Snapshot
    added_ids: set[str]
    state: dict[str, t.Any]
    seconds: list[float]
    meltano: Meltano
    #: (role id, its name after run 1): run 2 must update the row in place
    renamed_role: tuple[str, str]
    #: The state after runs 1 and 2 (bookmarks and lookback windows).
    state_1: dict[str, t.Any]
    state_2: dict[str, t.Any]
    #: Table -> key of the row deleted in the emulator between runs 1 and 2.
    removed: dict[str, tuple[str, ...]]


@pytest.fixture(scope="module")
def pipeline(
    installed: Installed,
    postgres: ThrowawayPostgres,
    emulator: t.Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Pipeline:
    """Run 1, add messages, run 2, run 3: each `meltano run tap-discord target-postgres`."""
    meltano = Meltano(
        workdir=tmp_path_factory.mktemp("meltano"),
        settings={
            "TAP_DISCORD_BOT_TOKEN": TOKEN,
            "TAP_DISCORD_API_URL": emulator.api_url,
            "TARGET_POSTGRES_HOST": postgres.host,
            "TARGET_POSTGRES_PORT": str(postgres.port),
            "TARGET_POSTGRES_USER": postgres.user,
            "TARGET_POSTGRES_PASSWORD": postgres.password,
            "TARGET_POSTGRES_DATABASE": postgres.database,
            # A number from the environment, as a user sharing a bot token sets it.
            "TAP_DISCORD_MAX_REQUESTS_PER_SECOND": "45",
            # meltano.yml's selection plus the opt-in thread_members: every table loads.
            "TAP_DISCORD__SELECT": json.dumps(every_stream_selected()),
        },
    )
    catalog = json.loads(meltano("invoke", "tap-discord", "--discover").stdout)
    streams = {entry["tap_stream_id"] for entry in catalog["streams"]}

    recent = post_recent_messages(emulator)
    expected_1 = expected_keys(emulator, streams)
    seconds = [meltano.run("target-postgres", log_name="run1.log")]
    after_1 = snapshot(postgres.dsn)
    state_1 = meltano.state()

    before = visible_message_ids(emulator)
    add_messages(emulator, NEW_MESSAGES)
    renamed = rename_a_role(emulator)
    added = visible_message_ids(emulator) - before
    removed = delete_between_runs(emulator, recent)
    expected_2 = expected_keys(emulator, streams)
    seconds.append(meltano.run("target-postgres", log_name="run2.log"))
    after_2 = snapshot(postgres.dsn)
    state_2 = meltano.state()

    # Run 3 as a scheduler runs it: the job, which shares the pipeline's state ID.
    started = time.monotonic()
    meltano("run", JOB, log_name="run3.log")
    seconds.append(time.monotonic() - started)
    after_3 = snapshot(postgres.dsn)
    print("\nmeltano run tap-discord target-postgres: " + ", ".join(f"{s:.1f}s" for s in seconds))
    return Pipeline(
        streams=streams,
        expected_1=expected_1,
        expected_2=expected_2,
        after_1=after_1,
        after_2=after_2,
        after_3=after_3,
        added_ids=added,
        state=meltano.state(),
        seconds=seconds,
        meltano=meltano,
        renamed_role=renamed,
        state_1=state_1,
        state_2=state_2,
        removed=removed,
    )


# Ground truth ---------------------------------------------------------------------------


def every_stream_selected() -> list[str]:
    """`meltano.yml`'s `select` for tap-discord, plus the streams it leaves out on purpose."""
    from tap_discord.permissions import OPT_IN_STREAMS

    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    (extractor,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-discord"]
    return [*extractor["select"], *(f"{name}.*" for name in sorted(OPT_IN_STREAMS))]


def guild_ids(emu: t.Any) -> list[str]:
    return [str(g["id"]) for g in emu.world.guilds]


def channels_and_threads(emu: t.Any) -> list[dict[str, t.Any]]:
    world = emu.world
    return [c for g in guild_ids(emu) for c in (*world.channels[g], *world.threads[g])]


def visible_messages_by_channel(emu: t.Any) -> dict[str, list[str]]:
    """Channel or thread id -> ids of the messages the bot can read there.

    `visible_messages` is empty where the tap gets nothing: no View Channel (403),
    no Read Message History (200 []), categories and forums (no messages).
    """
    found = {}
    for channel in channels_and_threads(emu):
        ids = [str(m["id"]) for m in emu.visible_messages(str(channel["id"]))]
        if ids:
            found[str(channel["id"])] = ids
    return found


def visible_message_ids(emu: t.Any) -> set[str]:
    return {m for ids in visible_messages_by_channel(emu).values() for m in ids}


def add_messages(emu: t.Any, count: int) -> None:
    """Spread `count` new messages over busy channels, an empty one and a thread."""
    from tests.emulator.control import writable_channels

    writable = writable_channels(emu)  # readable text channels and active threads
    threads = {str(c["id"]) for g in guild_ids(emu) for c in emu.world.threads[g]}
    busy = [c for c in writable if c not in threads and emu.visible_messages(c)]
    empty = [c for c in writable if not emu.visible_messages(c)]
    in_thread = [c for c in writable if c in threads]
    targets = list(dict.fromkeys([*busy[:2], *empty[:1], *in_thread[:1]]))
    assert len(targets) == 4, "the demo world changed: pick other channels"
    for i, channel_id in enumerate(targets):
        share = count // len(targets) + (1 if i < count % len(targets) else 0)
        emu.add_messages(channel_id, share)


def post_recent_messages(emu: t.Any) -> tuple[str, list[str]]:
    """Three messages posted now in the first guild's busiest channel (before run 1)."""
    gid = guild_ids(emu)[0]
    busiest = max(emu.world.channels[gid], key=lambda c: len(emu.visible_messages(c["id"])))
    return busiest["id"], [m["id"] for m in emu.add_messages(busiest["id"], 3)]


def delete_between_runs(emu: t.Any, recent: tuple[str, list[str]]) -> dict[str, tuple[str, ...]]:
    """Delete a member, a role, a channel and a message run 1 loaded; their keys.

    The channel holds no message the bot can read, and no thread: the messages of a
    deleted channel are not marked deleted (README, Deletions).
    """
    from tests.emulator.removals import remove

    gid = guild_ids(emu)[0]
    world = emu.world
    member = next(
        m for m in reversed(world.members[gid]) if m["user"]["id"] != world.bot_user["id"]
    )
    role = world.roles[gid][3]
    parents = {str(th.get("parent_id")) for th in world.threads[gid]}
    channel = next(
        c
        for c in world.channels[gid]
        if c["type"] not in (4, 15, 16)  # categories, forums and media hold children
        and c["id"] not in parents
        and not emu.visible_messages(c["id"])
        and all((i.get("channel") or {}).get("id") != c["id"] for i in world.invites[gid])
    )
    removed = {
        "members": (gid, member["user"]["id"]),
        "roles": (role["id"],),
        "channels": (channel["id"],),
        "messages": (recent[1][1],),
    }
    for table in ("members", "roles", "channels"):
        remove(emu, table, gid, removed[table][-1])
    emu.delete_message(recent[0], recent[1][1])
    return removed | withdraw_an_rsvp_and_leave_a_thread(emu, gid)


def withdraw_an_rsvp_and_leave_a_thread(emu: t.Any, gid: str) -> dict[str, tuple[str, ...]]:
    """A user withdraws an RSVP, another leaves a thread: tombstones (README, Deletions)."""
    from tests.emulator.removals import remove

    world, rest = emu.world, emu.world.guild_rest
    event = next(
        e
        for e in world.scheduled_events[gid]
        if e["status"] not in (3, 4)
        and e.get("channel_id") not in world.unreadable
        and rest.event_users.get(e["id"])
    )
    thread = next(
        th
        for th in emu.visible_threads(gid)
        if th.get("parent_id") not in world.unreadable
        and 2 <= len(rest.thread_members.get(th["id"], [])) < 50
    )
    rsvp = rest.event_users[event["id"]][0]["user"]["id"]
    leaver = next(
        m["user_id"]
        for m in rest.thread_members[thread["id"]]
        if m["user_id"] != world.bot_user["id"]
    )
    remove(emu, "event_users", gid, rsvp, parent=event["id"])
    remove(emu, "thread_members", gid, leaver, parent=thread["id"])
    return {
        "scheduled_event_users": (event["id"], rsvp),
        "thread_members": (thread["id"], leaver),
    }


def lookback_window(state: dict[str, t.Any], emu: t.Any) -> set[str]:
    """The messages the next run writes again: those of each channel's last
    `message_lookback` (from meltano.yml) before its bookmark, and all of a channel
    without one."""
    from tap_discord.snowflake import lookback_cursor, parse_duration

    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    extractor = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-discord")
    lookback = parse_duration(extractor["config"]["message_lookback"])
    marks = message_bookmarks(state)
    window = set()
    for channel, ids in visible_messages_by_channel(emu).items():
        mark = marks.get(channel)
        after = lookback_cursor(int(mark), lookback) if mark else 0
        window |= {m for m in ids if int(m) > after}
    return window


def rename_a_role(emu: t.Any) -> tuple[str, str]:
    """Rename the first guild's first role (not @everyone); its id and new name."""
    role = emu.world.roles[guild_ids(emu)[0]][1]
    role["name"] = "Renamed between runs \u00e9"
    return str(role["id"]), role["name"]


def audit_log_references(world: t.Any, gids: list[str], kind: str) -> set[tuple[str, ...]]:
    """Ids of the objects of one kind that the guilds' audit-log entries name."""
    found = set()
    for g in gids:
        refs = world.audit_refs[g]
        for entry in world.audit_log[g]:
            for ref_kind, ref_id in refs.by_entry[entry["id"]]:
                if ref_kind == kind and ref_id in refs.objects[kind]:
                    found.add((ref_id,))
    return found


def expected_keys(emu: t.Any, streams: set[str]) -> dict[str, set[tuple[str, ...]]]:
    """The primary keys each offered stream's table must hold, from the world."""
    world = emu.world
    gids = guild_ids(emu)
    known: dict[str, set[tuple[str, ...]]] = {
        "guilds": {(g,) for g in gids},
        "user_guilds": {(g,) for g in gids},
        "channels": {(str(c["id"]),) for g in gids for c in world.channels[g]},
        "threads": {(str(c["id"]),) for g in gids for c in emu.visible_threads(g)},
        "messages": {(m,) for m in visible_message_ids(emu)},
        "members": {(g, str(m["user"]["id"])) for g in gids for m in world.members[g]},
        "invites": {(str(i["code"]),) for g in gids for i in world.invites[g]},
    }
    for kind in ("users", "webhooks", "integrations", "threads"):
        known[f"audit_log_{kind}"] = audit_log_references(world, gids, kind)
    listed_threads = {str(c["id"]) for g in gids for c in emu.visible_threads(g)}
    for stream, rows in guild_rest_truth(world, listed_threads).items():
        known[stream] = {tuple(str(row[k]) for k in GUILD_REST_KEYS[stream]) for row in rows}
    for name, rows in mirrortruth.follower_rows(emu).items():
        known[name] = {tuple(str(v) for v in key) for key in rows}
    expected = {}
    for stream in streams:
        if stream in known:
            expected[stream] = known[stream]
            continue
        # Other guild lists (roles, emojis, ...): the world keeps them per guild too.
        per_guild = getattr(world, stream, None)
        assert isinstance(per_guild, dict), f"no ground truth for stream {stream!r}"
        key = KEYS.get(stream, ("id",))
        expected[stream] = {
            tuple(str(item[k]) for k in key) for g in gids for item in per_guild.get(g, [])
        }
    return expected


# Tests ----------------------------------------------------------------------------------


def test_install_never_asks_meltano_hub(installed: Installed, tmp_path: Path) -> None:
    assert installed.hub_hits == []
    # The recorder does catch Meltano's Hub requests: `meltano hub ping` reaches it.
    meltano = Meltano(workdir=tmp_path, settings={})
    with HubRecorder() as hub:
        with pytest.raises(MeltanoError, match="hub ping"):
            meltano("hub", "ping", env=hub.env, timeout=120)
        assert hub.hits, "meltano hub ping did not reach the recorder"


def test_every_bot_stream_is_loaded(pipeline: Pipeline) -> None:
    assert set(KEYS) & pipeline.streams == set(KEYS) & set(pipeline.after_1.keys)
    assert set(pipeline.after_1.keys) == set(pipeline.expected_1)


def test_run_1_tables_equal_the_world(pipeline: Pipeline) -> None:
    for table, expected in pipeline.expected_1.items():
        assert expected, f"the world has no {table}: the comparison would prove nothing"
        assert pipeline.after_1.key_set(table) == expected, table


def test_run_2_tables_equal_the_world(pipeline: Pipeline) -> None:
    for table, expected in pipeline.expected_2.items():
        assert pipeline.after_2.key_set(table) == expected, table


def test_no_duplicate_primary_keys(pipeline: Pipeline) -> None:
    for snap in (pipeline.after_1, pipeline.after_2, pipeline.after_3):
        for table, keys in snap.keys.items():
            dupes = [k for k, n in Counter(keys).items() if n > 1]
            assert not dupes, f"{table}: duplicate keys {dupes[:5]}"


def test_run_2_loads_the_new_messages_and_rereads_only_the_lookback_window(
    pipeline: Pipeline, emulator: t.Any
) -> None:
    assert len(pipeline.added_ids) == NEW_MESSAGES
    mark = pipeline.after_1.batched_max["messages"]
    written = {m for m, at in pipeline.after_2.message_batched.items() if at > mark}
    window = lookback_window(pipeline.state_1, emulator)
    assert pipeline.added_ids <= window
    # The deleted message is written once more: as its tombstone.
    assert written == window | {pipeline.removed["messages"][0]}
    assert len(written) < len(pipeline.after_2.message_batched) // 2, "not a full re-read"


def test_run_3_with_nothing_new_rereads_only_the_lookback_window(
    pipeline: Pipeline, emulator: t.Any
) -> None:
    mark = pipeline.after_2.batched_max["messages"]
    written = {m for m, at in pipeline.after_3.message_batched.items() if at > mark}
    assert written == lookback_window(pipeline.state_2, emulator)
    assert pipeline.after_3.message_batched.keys() == pipeline.after_2.message_batched.keys()
    # The full-table streams are written again (upserts, same keys).
    mark = pipeline.after_2.batched_max["guilds"]
    assert pipeline.after_3.batched_max["guilds"] > mark
    assert pipeline.after_3.key_set("guilds") == pipeline.after_2.key_set("guilds")


def test_state_has_a_bookmark_per_channel(pipeline: Pipeline, emulator: t.Any) -> None:
    marks = message_bookmarks(pipeline.state)
    newest = {
        channel: max(ids, key=int) for channel, ids in visible_messages_by_channel(emulator).items()
    }
    assert marks == newest


def test_meltano_logs_hold_no_secret(pipeline: Pipeline) -> None:
    """Meltano's output of every run, and its own elt logs, never carry a token."""
    logs = sorted(pipeline.meltano.workdir.glob("*.log"))
    logs += sorted((REPO / ".meltano" / "logs").rglob("*.log"))
    assert {p.name for p in logs} >= {"run1.log", "run2.log", "run3.log"}
    for path in logs:
        assert_no_secrets(path.read_text(errors="replace"), {"bot_token": TOKEN})


def test_the_job_and_its_hourly_schedule_are_defined(pipeline: Pipeline) -> None:
    meltano = pipeline.meltano
    jobs = json.loads(meltano("job", "list", "--format", "json").stdout)["jobs"]
    assert {"job_name": JOB, "tasks": ["tap-discord target-postgres"]} in jobs
    listed = json.loads(meltano("schedule", "list", "--format", "json").stdout)
    schedules = {entry["name"]: entry for entry in listed["schedules"]["job"]}
    assert schedules[SCHEDULE]["cron_interval"] == "0 * * * *"
    assert schedules[SCHEDULE]["job"]["name"] == JOB


def test_state_id_is_listed(pipeline: Pipeline) -> None:
    listed = pipeline.meltano("state", "list").stdout.split()
    assert STATE_ID in listed


def test_discover_and_about_through_meltano(pipeline: Pipeline) -> None:
    meltano = pipeline.meltano
    catalog = json.loads(meltano("invoke", "tap-discord", "--discover").stdout)
    by_name = {entry["tap_stream_id"]: entry for entry in catalog["streams"]}
    for stream, keys in KEYS.items():
        if stream in by_name:
            assert tuple(by_name[stream]["key_properties"]) == keys, stream
    about = json.loads(meltano("invoke", "tap-discord", "--about", "--format", "json").stdout)
    assert about["name"] == "tap-discord"
    assert "state" in about["capabilities"]


def world_objects(emu: t.Any) -> dict[str, dict[tuple[str, ...], dict[str, t.Any]]]:
    """Table -> primary key -> the object Discord serves for that row, for the tables
    where users write text."""
    world = emu.world
    gids = guild_ids(emu)
    per_guild = {
        table: {(str(item["id"]),): item for g in gids for item in getattr(world, table)[g]}
        for table in ("roles", "channels", "scheduled_events", "stickers", "audit_log")
    }
    return {
        "guilds": {(str(g["id"]),): g for g in world.guilds},
        "members": {(g, str(m["user"]["id"])): m for g in gids for m in world.members[g]},
        "messages": {
            (str(m["id"]),): m
            for channel in channels_and_threads(emu)
            for m in emu.visible_messages(str(channel["id"]))
        },
        **per_guild,
    }


def follow(value: t.Any, path: tuple[t.Any, ...]) -> t.Any:
    for step in path:
        value = value[step]
    return value


def table_rows(dsn: str, table: str) -> dict[tuple[str, ...], dict[str, t.Any]]:
    """Every row of a loaded table as a dict (jsonb as Python values), by primary key."""
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(LOAD_SCHEMA, table))
        rows = conn.execute(query).fetchall()
    key = KEYS.get(table, ("id",))
    return {tuple(str(row[k]) for k in key): row for row in rows}


def live_rows(rows: dict[tuple[str, ...], dict[str, t.Any]]) -> dict[tuple[str, ...], t.Any]:
    """The rows not marked deleted."""
    return {key: row for key, row in rows.items() if row["_sdc_deleted_at"] is None}


def test_rows_deleted_on_discord_are_marked_deleted_and_live_ones_are_not(
    pipeline: Pipeline, postgres: ThrowawayPostgres, emulator: t.Any
) -> None:
    """A member who left, a deleted channel, role and message (README, Deletions)."""
    for snap in (pipeline.after_2, pipeline.after_3):
        for table, key in pipeline.removed.items():
            assert snap.deleted[table] == {key}, table
        for table in ("guilds", "threads", "invites", "emojis", "stickers", "scheduled_events"):
            assert snap.deleted.get(table, set()) == set(), table
    assert pipeline.after_1.deleted == {table: set() for table in pipeline.after_1.deleted}
    rows = table_rows(postgres.dsn, "members")
    assert rows[pipeline.removed["members"]]["user"] is not None, "soft delete keeps the row"
    tombstone = table_rows(postgres.dsn, "messages")[pipeline.removed["messages"]]
    assert tombstone["content"] is None and tombstone["author"] is None
    assert tombstone["channel_id"] and tombstone["guild_id"]
    for table in ("scheduled_event_users", "thread_members"):
        gone = table_rows(postgres.dsn, table)[pipeline.removed[table]]
        assert gone["member"] is None and gone["guild_id"], table  # a tombstone's row


def test_the_readmes_current_members_query(
    pipeline: Pipeline, postgres: ThrowawayPostgres, emulator: t.Any
) -> None:
    import psycopg

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("-- current members")
    query = readme[start : readme.index(";", start)]
    gid, _ = pipeline.removed["members"]
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {LOAD_SCHEMA}")
        rows = conn.execute(query.replace(":'guild_id'", "%s"), (gid,)).fetchall()
    assert {str(r[0]) for r in rows} == {m["user"]["id"] for m in emulator.world.members[gid]}


def test_nul_characters_at_every_depth_load_as_replacement_characters(
    pipeline: Pipeline, postgres: ThrowawayPostgres, emulator: t.Any
) -> None:
    """Every NUL the world holds, top-level or deep in jsonb, arrives as U+FFFD."""
    found: Counter[str] = Counter()
    for table, objects in world_objects(emulator).items():
        rows = table_rows(postgres.dsn, table)
        for key, obj in objects.items():
            for path in nul_paths(obj):
                assert key in rows, f"{table} {key} holds a NUL and was not loaded"
                loaded = follow(rows[key], path)
                assert loaded == as_loaded(follow(obj, path)), (table, key, path)
                found[f"{table}:{len(path)}"] += 1
    depths = {int(k.split(":")[1]) for k in found}
    assert depths >= {1, 2, 3, 4}, f"the demo world lost its deep NULs: {found}"
    assert {k.split(":")[0] for k in found} >= {"messages", "members", "audit_log", "guilds"}


def loaded_equals(loaded: t.Any, sent: t.Any) -> bool:
    """A column's value as PostgreSQL returns it equals the value the tap sent."""
    if isinstance(loaded, dt.datetime):  # target-postgres stores UTC without a zone
        sent_utc = dt.datetime.fromisoformat(sent).astimezone(dt.timezone.utc)
        return loaded.replace(tzinfo=loaded.tzinfo or dt.timezone.utc) == sent_utc
    if isinstance(loaded, Decimal):
        return float(loaded) == float(sent)
    return bool(loaded == as_loaded(sent))


#: Columns kept as of the parent's last read: a thread is re-read only when it has new
#: activity (README), so a thread member's `member` object (roles, nick) can be older
#: than the world's after run 2 deletes a role.
AS_OF_LAST_READ = {("thread_members", "member")}


def test_new_guild_tables_hold_what_discord_serves(
    pipeline: Pipeline, postgres: ThrowawayPostgres, emulator: t.Any
) -> None:
    """Every row of the issue-18 tables, every column Discord (or the tap) filled."""
    listed = {str(c["id"]) for g in guild_ids(emulator) for c in emulator.visible_threads(g)}
    for table, want in guild_rest_truth(emulator.world, listed).items():
        rows = live_rows(table_rows(postgres.dsn, table))
        assert len(rows) == len(want), table
        for record in want:
            key = tuple(str(record[k]) for k in GUILD_REST_KEYS[table])
            row = rows[key]
            for column, value in record.items():
                if (table, column) in AS_OF_LAST_READ:
                    continue
                assert loaded_equals(row[column], value), (table, key, column)
    webhook_columns = set(next(iter(table_rows(postgres.dsn, "webhooks").values())))
    assert not webhook_columns & {"token", "url"}


#: The signature of a CDN attachment URL (`?ex=&is=&hm=`): Discord signs each URL it
#: serves for a limited time, so two reads an hour apart differ there only.
SIGNED_URL_QUERY = re.compile(r"\?ex=[0-9a-f]+&is=[0-9a-f]+&hm=[0-9a-f]+&")


def unsigned(value: t.Any) -> t.Any:
    """`value` with every signed URL's signature removed, at any depth."""
    if isinstance(value, str):
        return SIGNED_URL_QUERY.sub("", value)
    if isinstance(value, dict):
        return {k: unsigned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsigned(v) for v in value]
    return value


def test_loaded_messages_equal_what_discord_serves(
    pipeline: Pipeline, postgres: ThrowawayPostgres, emulator: t.Any
) -> None:
    rows = live_rows(table_rows(postgres.dsn, "messages"))
    served = world_objects(emulator)["messages"]
    assert rows.keys() == served.keys()
    columns = ("content", "author", "embeds", "mentions", "attachments", "mention_roles")
    for key, message in served.items():
        row = rows[key]
        for column in columns:
            assert unsigned(row[column]) == unsigned(as_loaded(message[column])), (key, column)
        replied = as_loaded(message.get("referenced_message"))
        assert unsigned(row["referenced_message"]) == unsigned(replied)
        assert row["timestamp"] == dt.datetime.fromisoformat(message["timestamp"]).replace(
            tzinfo=None
        )


def test_nested_fields_answer_jsonb_queries(
    pipeline: Pipeline, postgres: ThrowawayPostgres
) -> None:
    """The README's queries: a nested field, and absent objects (JSON null)."""
    import psycopg

    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {LOAD_SCHEMA}")

        def count(where: str, *params: str) -> int:
            row = conn.execute(f"SELECT count(*) FROM messages WHERE {where}", params).fetchone()
            assert row is not None
            return int(row[0])

        authors = count("author->>'global_name' LIKE 'Au%%thor'")
        replies = count("referenced_message->>'content' LIKE 'Replied%%'")
        not_replies = count("coalesce(message_reference, 'null') = 'null'")
        references = count("message_reference <> 'null'")
        started_threads = count("extras ? 'thread' AND extras->'thread'->>'name' IS NOT NULL")
        embeds = count("embeds[1]->>'description' = %s", "before\ufffdafter")
        total = count("true")
    assert authors >= 1
    assert replies >= 1
    assert references >= 1, "the demo world has replies"
    assert not_replies + references == total
    assert started_threads >= 1, "the demo world has thread starters"
    assert embeds >= 1, "the demo world's embed with a NUL"


def test_run_2_upserts_an_edited_row_in_place(
    pipeline: Pipeline, postgres: ThrowawayPostgres
) -> None:
    role_id, name = pipeline.renamed_role
    rows = table_rows(postgres.dsn, "roles")
    assert rows[(role_id,)]["name"] == name
    assert pipeline.after_2.keys["roles"].count((role_id,)) == 1


def test_jsonl_loader_writes_the_same_messages(
    installed: Installed, emulator: t.Any, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    meltano = Meltano(
        workdir=tmp_path,
        settings={
            "TAP_DISCORD_BOT_TOKEN": TOKEN,
            "TAP_DISCORD_API_URL": emulator.api_url,
            "TARGET_JSONL_DESTINATION_PATH": str(output),
        },
    )
    meltano.run("target-jsonl", log_name="jsonl.log")
    (messages_file,) = output.glob("messages-*.jsonl")
    with messages_file.open(encoding="utf-8") as handle:
        ids = [json.loads(line)["id"] for line in handle]
    assert sorted(ids) == sorted(visible_message_ids(emulator))
    state = meltano.state("dev:tap-discord-to-target-jsonl")
    assert set(message_bookmarks(state)) == set(visible_messages_by_channel(emulator))


def test_meltano_yml_declares_every_tap_setting() -> None:
    from singer_sdk.helpers.capabilities import FLATTENING_CONFIG, STREAM_MAPS_CONFIG

    about = json.loads(
        subprocess.run(
            [str(Path(sys.executable).parent / "tap-discord"), "--about", "--format", "json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    builtin = set(STREAM_MAPS_CONFIG["properties"]) | set(FLATTENING_CONFIG["properties"])
    tap_settings = {
        name: schema
        for name, schema in about["settings"]["properties"].items()
        if name not in builtin
    }
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    extractors = {p["name"]: p for p in project["plugins"]["extractors"]}
    assert extractors["tap-discord-oauth"]["inherit_from"] == "tap-discord"
    extractor = extractors["tap-discord"]
    declared = {s["name"]: s for s in extractor["settings"]}
    assert set(declared) == set(tap_settings)
    # Meltano 4.4 cannot pass a `decimal` set in the environment on to the tap.
    kinds = {"string": "string", "integer": "integer", "number": "integer", "boolean": "boolean"}
    kinds |= {"array": "array", "object": "object"}
    for name, schema in tap_settings.items():
        setting = declared[name]
        secret = bool(schema.get("secret") or schema.get("writeOnly"))
        assert bool(setting.get("sensitive")) == secret, name
        types = schema.get("type") or ["string"]  # secrets carry no type
        types = [types] if isinstance(types, str) else types
        json_type = next(t for t in types if t != "null")
        assert setting["kind"] == kinds[json_type], name
        if "value" in setting:
            assert setting["value"] == schema.get("default"), name


def test_oauth_extractor_loads_the_users_own_streams(
    installed: Installed, postgres: ThrowawayPostgres, emulator: t.Any, tmp_path: Path
) -> None:
    """`tap-discord-oauth` (inherits tap-discord): refresh-token grant, own schema and state."""
    emulator.settings.oauth_clients["e2e-client"] = "e2e-secret"
    scopes = "identify guilds connections guilds.members.read"
    refresh_token = emulator.issue_refresh_token("e2e-client", scopes)
    meltano = Meltano(
        workdir=tmp_path,
        settings={
            "TAP_DISCORD_BOT_TOKEN": TOKEN,  # must not leak into the OAuth extractor
            "TAP_DISCORD_OAUTH_API_URL": emulator.api_url,
            "TAP_DISCORD_OAUTH_CLIENT_ID": "e2e-client",
            "TAP_DISCORD_OAUTH_CLIENT_SECRET": "e2e-secret",
            "TAP_DISCORD_OAUTH_REFRESH_TOKEN": refresh_token,
            "TAP_DISCORD_OAUTH_OAUTH_SCOPES": scopes,
            "TAP_DISCORD_OAUTH_TOKEN_STORE_PATH": str(tmp_path / "tokens.json"),
            "TARGET_POSTGRES_HOST": postgres.host,
            "TARGET_POSTGRES_PORT": str(postgres.port),
            "TARGET_POSTGRES_USER": postgres.user,
            "TARGET_POSTGRES_PASSWORD": postgres.password,
            "TARGET_POSTGRES_DATABASE": postgres.database,
        },
    )
    meltano("run", "tap-discord-oauth", "target-postgres", log_name="oauth.log")
    snap = snapshot(postgres.dsn, schema="tap_discord_oauth")
    assert set(snap.keys) == {
        "current_user",
        "user_guilds",
        "user_connections",
        "user_guild_members",
    }
    (user,) = snap.keys["current_user"]
    assert set(snap.keys["user_guilds"]) <= {(g,) for g in guild_ids(emulator)}
    assert snap.keys["user_guilds"]
    assert {k[1] for k in snap.keys["user_guild_members"]} == {user[0]}
    assert len(snap.keys["user_connections"]) == 2
    assert (tmp_path / "tokens.json").exists()


# The README's first command ----------------------------------------------------------------


def _port_open(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parts.hostname or "127.0.0.1", parts.port or 80)) == 0


def _demo(scratch: Path, *args: str, **popen: t.Any) -> subprocess.Popen[str]:
    """`python scripts/demo.py` (what `make demo` runs) with its temp files in `scratch`."""
    return subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "demo.py"), *args],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        **popen,
    )


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A temp dir the postgres user can enter (pytest's own tmp dirs are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="tap-discord-e2e-demo-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_demo_runs_twice_and_cleans_up(installed: Installed, scratch: Path) -> None:
    if not postgres_available():
        pytest.skip("PostgreSQL server binaries are missing")
    proc = _demo(scratch)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("  ")}
    before, after, loaded = (int(v) for v in rows["messages"])
    assert after - before == NEW_DEMO_MESSAGES, out
    assert loaded > NEW_DEMO_MESSAGES, out  # and each channel's last day (message_lookback)
    assert int(rows["members"][2]) == int(rows["members"][1]) > 0, out  # re-upserted
    assert "TAP_DISCORD_BOT_TOKEN" in out
    # Nothing left running or on disk.
    urls = [w for w in out.split() if w.startswith(("http://127.0.0.1", "postgresql://"))]
    assert urls, out
    for url in urls:
        assert not _port_open(url.replace("postgresql://postgres@", "http://")), url
    assert list(scratch.iterdir()) == []


def test_demo_cleans_up_on_ctrl_c(installed: Installed, scratch: Path) -> None:
    if not postgres_available():
        pytest.skip("PostgreSQL server binaries are missing")
    proc = _demo(scratch, start_new_session=True)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("[4/6]"):
            break
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    rest, _ = proc.communicate(timeout=120)
    out = "".join(seen) + rest
    assert proc.returncode == 130, out
    assert "Interrupted" in out
    urls = [w for w in out.split() if w.startswith(("http://127.0.0.1", "postgresql://"))]
    for url in urls:
        assert not _port_open(url.replace("postgresql://postgres@", "http://")), url
    assert list(scratch.iterdir()) == []


def test_demo_without_a_database_writes_jsonl(installed: Installed, scratch: Path) -> None:
    output = scratch / "out"
    proc = _demo(scratch, "--loader", "jsonl", "--output", str(output))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert int(rows["messages"][1]) > NEW_DEMO_MESSAGES, out  # + the lookback re-read
    assert int(rows["guilds"][0]) == int(rows["guilds"][1]) > 0, out
    assert [p.name for p in scratch.iterdir()] == ["out"]


def readme_reaction_query(dsn: str, message_id: str) -> list[tuple[str, ...]]:
    """The README's "who reacted with what on a message" query, as written there."""
    import psycopg

    query = README.split("-- who reacted with what on a message", 1)[1].split(";", 1)[0]
    query = query.split("\n", 1)[1].replace("'1245678901234567890'", "%s")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {LOAD_SCHEMA}")
        return [tuple(row) for row in conn.execute(query, (message_id,)).fetchall()]


def naive_utc(text: str) -> dt.datetime:
    """An ISO 8601 instant as PostgreSQL hands back a `timestamp without time zone`."""
    return dt.datetime.fromisoformat(text).astimezone(dt.timezone.utc).replace(tzinfo=None)


def live_and_deleted_rows(
    dsn: str, table: str
) -> tuple[dict[tuple[str, ...], tuple[t.Any, ...]], set[tuple[str, ...]]]:
    """A follower table's rows not marked deleted (key -> compared columns), and the
    keys of those marked deleted."""
    rows = table_rows(dsn, table)
    live = {
        key: tuple(row[c] for c in mirrortruth.VALUES[table])
        for key, row in rows.items()
        if row["_sdc_deleted_at"] is None
    }
    return live, {key for key, row in rows.items() if row["_sdc_deleted_at"] is not None}


def test_pins_reactions_and_votes_mirror_the_world_after_changes(
    pipeline: Pipeline, postgres: ThrowawayPostgres, emulator: t.Any
) -> None:
    """Two more runs of the job (after the pipeline's three, on its state), with
    `message_lookback`: rows gone from Discord are marked deleted in PostgreSQL, and the
    rows not marked deleted equal the world, users and voters included."""
    from tests.emulator.control import writable_channels

    channel = next(c for c in writable_channels(emulator) if emulator.visible_messages(c))
    guild = emulator.world.guild_of[channel]
    users = [str(m["user"]["id"]) for m in emulator.world.members[guild][:3]]
    first, second = (m["id"] for m in emulator.add_messages(channel, 2))
    emulator.react(channel, first, {"id": None, "name": "👍"}, users[0])
    emulator.react(channel, first, {"id": None, "name": "👍"}, users[1])
    emulator.react(channel, second, {"id": None, "name": "🎉"}, users[2], burst=True)
    poll = emulator.post_poll(channel, ["Yes", "No"])["id"]
    emulator.vote(channel, poll, 1, users[0])
    emulator.pin_message(channel, second)
    lookback = {"TAP_DISCORD_MESSAGE_LOOKBACK": "P1D"}
    pipeline.meltano("run", JOB, env=lookback, log_name="run4.log")

    emulator.react(channel, first, {"id": None, "name": "👍"}, users[1], add=False)
    emulator.react(channel, second, {"id": None, "name": "🎉"}, users[2], add=False, burst=True)
    emulator.vote(channel, poll, 1, users[0], add=False)
    emulator.vote(channel, poll, 2, users[1])
    emulator.unpin_message(channel, second)
    pipeline.meltano("run", JOB, env=lookback, log_name="run5.log")

    truth = mirrortruth.follower_rows(emulator)
    for table in mirrortruth.FOLLOWERS:
        live, _ = live_and_deleted_rows(postgres.dsn, table)
        expected = {tuple(str(v) for v in key): values for key, values in truth[table].items()}
        if table == "pins":  # loaded as `timestamp without time zone`, in UTC
            expected = {key: (naive_utc(at),) for key, (at,) in expected.items()}
        assert live == expected, table
    reacted = readme_reaction_query(postgres.dsn, first)
    assert ("👍", "normal", users[0]) in reacted
    assert ("👍", "normal", users[1]) not in reacted  # taken back
    _, deleted_reactions = live_and_deleted_rows(postgres.dsn, "message_reactions")
    assert (second, "🎉", "burst") in deleted_reactions
    _, deleted_pins = live_and_deleted_rows(postgres.dsn, "pins")
    assert (channel, second) in deleted_pins
