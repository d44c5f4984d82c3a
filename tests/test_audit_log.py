"""The audit log: incremental by entry id per guild, and the objects its entries name."""

from __future__ import annotations

import math
import time
from collections import Counter

import pytest

from tap_discord.streams.audit_log import REFERENCE_KINDS
from tests.emulator import Emulator, WorldSpec
from tests.tapharness import TapRun, discover, run_tap, select

TOKEN = "audit-log-test-token"
REFERENCE_STREAMS = {
    "audit_log_users",
    "audit_log_webhooks",
    "audit_log_integrations",
    "audit_log_threads",
}
AUDIT_STREAMS = {"guilds", "audit_log", *REFERENCE_STREAMS}
ENTRIES = 250  # per guild: pages of 100, 100 and 50


@pytest.fixture(scope="module")
def emu():
    with Emulator(WorldSpec.small(audit_log_entries=ENTRIES), bot_token=TOKEN) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def config(emu) -> dict:
    return {"bot_token": TOKEN, "api_url": emu.api_url}


@pytest.fixture(scope="module")
def catalog(config) -> dict:
    return select(discover(config), AUDIT_STREAMS)


@pytest.fixture(scope="module")
def first(emu, config, catalog) -> TapRun:
    emu.reset_requests()
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    run.audit_requests = audit_requests(emu)  # type: ignore[attr-defined]
    return run


def audit_requests(emu) -> Counter[str]:
    """Audit-log requests per guild."""
    return Counter(r.major for r in emu.requests if r.route == "audit_logs")


def bookmarks(run: TapRun) -> dict[str, str]:
    partitions = run.final_state["bookmarks"]["audit_log"]["partitions"]
    return {p["context"]["guild_id"]: p["replication_key_value"] for p in partitions}


def ids(records) -> list[str]:
    return [str(r["id"]) for r in records]


def test_first_run_emits_every_entry_oldest_first_per_guild(emu, first: TapRun) -> None:
    got = first.records("audit_log")
    for guild in emu.world.guilds:
        gid = guild["id"]
        mine = [r for r in got if r["guild_id"] == gid]
        assert ids(mine) == ids(emu.world.audit_log[gid]), "every entry, once, ascending"
    pages = math.ceil(ENTRIES / 100)
    assert first.audit_requests == {g["id"]: pages for g in emu.world.guilds}  # type: ignore[attr-defined]


def test_bookmark_is_the_last_entry_of_each_guild(emu, first: TapRun) -> None:
    assert bookmarks(first) == {
        g["id"]: emu.world.audit_log[g["id"]][-1]["id"] for g in emu.world.guilds
    }
    assert "progress_markers" not in str(first.final_state)


def test_referenced_objects_are_their_own_streams(emu, first: TapRun) -> None:
    named: dict[str, set[str]] = {kind: set() for kind in ("users", "webhooks", "threads")}
    for gid, entries in emu.world.audit_log.items():
        refs = emu.world.audit_refs[gid]
        for entry in entries:
            for kind, ref_id in refs.by_entry[entry["id"]]:
                if kind in named and ref_id in refs.objects[kind]:
                    named[kind].add(ref_id)
    users = first.records("audit_log_users")
    assert Counter(ids(users)) == Counter(named["users"]), "each named user once"
    assert all("guild_id" not in u for u in users), "users belong to no guild"
    assert all("banner_color" not in u for u in users), "undocumented fields have no column"
    hooks = first.records("audit_log_webhooks")
    assert set(ids(hooks)) == named["webhooks"] and hooks
    assert all("token" not in h and "url" not in h and h["guild_id"] for h in hooks)
    assert set(ids(first.records("audit_log_threads"))) == named["threads"]
    integrations = first.records("audit_log_integrations")
    assert integrations and all(i["guild_id"] for i in integrations)
    assert TOKEN not in first.output


def test_no_audit_log_bookmark_passes_an_unemitted_reference(emu, first: TapRun) -> None:
    """A run killed after any STATE re-reads every entry whose objects were not emitted."""
    emitted: set[tuple[str, str]] = set()
    for message in first.messages:
        if message["type"] == "RECORD" and message["stream"].startswith("audit_log_"):
            emitted.add(
                (message["stream"].removeprefix("audit_log_"), str(message["record"]["id"]))
            )
        if message["type"] != "STATE":
            continue
        audit = message["value"].get("bookmarks", {}).get("audit_log", {})
        for partition in audit.get("partitions", []):
            gid = partition["context"]["guild_id"]
            refs = emu.world.audit_refs[gid]
            if "replication_key_value" not in partition:
                continue
            bookmark = int(partition["replication_key_value"])
            for entry in emu.world.audit_log[gid]:
                if int(entry["id"]) > bookmark:
                    break
                for kind, ref_id in refs.by_entry[entry["id"]]:
                    if kind in REFERENCE_KINDS and ref_id in refs.objects[kind]:
                        assert (kind, ref_id) in emitted, f"{kind} {ref_id} of entry {entry['id']}"


def test_next_runs_read_only_new_entries(emu, config, catalog, first: TapRun) -> None:
    gid = emu.world.guilds[0]["id"]
    added = emu.add_audit_entries(gid, 7)
    emu.reset_requests()
    second = run_tap(config, catalog=catalog, state=first.final_state)
    assert second.returncode == 0, second.stderr
    assert ids(second.records("audit_log")) == ids(added)
    assert bookmarks(second)[gid] == added[-1]["id"]
    assert audit_requests(emu) == {g["id"]: 1 for g in emu.world.guilds}
    actors = {e["user_id"] for e in added}
    assert actors <= set(ids(second.records("audit_log_users")))

    emu.reset_requests()
    third = run_tap(config, catalog=catalog, state=second.final_state)
    assert third.returncode == 0, third.stderr
    assert third.records("audit_log") == []
    assert bookmarks(third) == bookmarks(second), "no entry, no move"
    assert audit_requests(emu) == {g["id"]: 1 for g in emu.world.guilds}


def test_start_date_skips_older_entries(emu, config, catalog) -> None:
    run = run_tap({**config, "start_date": "P10D"}, catalog=catalog)
    assert run.returncode == 0, run.stderr
    cutoff_ms = (time.time() - 10 * 86400) * 1000
    got = ids(run.records("audit_log"))
    want = [
        e["id"]
        for g in emu.world.guilds
        for e in emu.world.audit_log[g["id"]]
        if (int(e["id"]) >> 22) + 1420070400000 >= cutoff_ms + 5000
    ]
    assert set(want) <= set(got)
    assert all((int(i) >> 22) + 1420070400000 >= cutoff_ms - 5000 for i in got)
    assert len(got) < ENTRIES * len(emu.world.guilds)


def test_references_without_audit_log_selected_move_no_bookmark(emu, config, first: TapRun) -> None:
    catalog = select(discover(config), {"guilds", "audit_log_users"})
    emu.reset_requests()
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert run.records("audit_log") == []
    assert set(ids(run.records("audit_log_users"))) == set(ids(first.records("audit_log_users")))
    partitions = run.final_state.get("bookmarks", {}).get("audit_log", {}).get("partitions", [])
    assert not any("replication_key_value" in p for p in partitions)
    pages = math.ceil(ENTRIES / 100)
    assert audit_requests(emu) == {g["id"]: pages for g in emu.world.guilds}


def test_without_view_audit_log_each_guild_is_skipped_with_one_warning() -> None:
    spec = WorldSpec.small(view_audit_log=False, manage_guild=True)
    with Emulator(spec, bot_token=TOKEN) as emu:
        config = {"bot_token": TOKEN, "api_url": emu.api_url}
        run = run_tap(config, catalog=select(discover(config), AUDIT_STREAMS))
        assert run.returncode == 0, run.stderr
        assert not run.streams() & {"audit_log", *REFERENCE_STREAMS}
        warnings = [line for line in run.stderr.splitlines() if "WARNING" in line]
        named = [line for line in warnings if "View Audit Log" in line]
        assert len(named) == len(emu.world.guilds), warnings
        assert all("audit_log" in line for line in named)
        assert audit_requests(emu) == {g["id"]: 1 for g in emu.world.guilds}, "one 403 each"
        assert "Traceback" not in run.stderr
