"""The emulator against Discord's documented and observed behaviour, over real HTTP.

Sources: https://discord.com/developers/docs/reference and docs/discord-behaviour.md.

World, routes, paging, errors and ground truth. Rate limits and faults are in
test_emulator_limits.py, OAuth2 in test_emulator_oauth.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.emulator import Emulator, WorldSpec
from tests.emulator.snowflakes import DISCORD_EPOCH_MS, iso_from_ms, snowflake_ms

TOKEN = "emulator-test-token"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    """A read-only small world shared by the tests that do not change anything."""
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emulator:
        yield emulator


@pytest.fixture
def fresh() -> Iterator[Emulator]:
    """A small world of its own, for tests that change data or settings."""
    with Emulator(WorldSpec.small(), bot_token=TOKEN) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def http() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bot {TOKEN}"
    return session


def get(http: requests.Session, emu: Emulator, path: str, **params) -> requests.Response:
    return http.get(emu.api_url + path, params=params, timeout=10)


def text_channel_with(emu: Emulator, count: int) -> str:
    """A readable text channel holding exactly `count` messages."""
    hidden = emu.world.unreadable | emu.world.no_history
    for channels in emu.world.channels.values():
        for channel in channels:
            if channel["type"] != 0 or channel["id"] in hidden:
                continue
            if len(emu.world.messages[channel["id"]]) == count:
                return channel["id"]
    raise AssertionError(f"no channel with {count} messages")


def ids(messages: list[dict]) -> list[int]:
    return [int(m["id"]) for m in messages]


# world ---------------------------------------------------------------------------------


def test_small_world_has_the_promised_channels_and_threads(emu: Emulator) -> None:
    counts = {
        len(emu.world.messages[c["id"]])
        for cs in emu.world.channels.values()
        for c in cs
        if c["type"] == 0
    }
    assert {0, 100, 101} <= counts
    types = {c["type"] for cs in emu.world.channels.values() for c in cs}
    assert {0, 2, 4, 5, 13, 15, 16} <= types
    threads = [t for ts in emu.world.threads.values() for t in ts]
    kinds = {(t["type"], t["thread_metadata"]["archived"]) for t in threads}
    assert {(10, False), (11, False), (11, True), (12, False), (12, True)} <= kinds
    forum_ids = {c["id"] for cs in emu.world.channels.values() for c in cs if c["type"] in (15, 16)}
    posts = [t for t in threads if t["parent_id"] in forum_ids]
    assert posts and all(emu.world.messages[t["id"]][0]["id"] == t["id"] for t in posts)
    assert emu.world.unreadable and emu.world.no_history


def test_ids_encode_creation_time_and_increase(emu: Emulator) -> None:
    for cid in emu.world.messages:
        messages = list(emu.world.messages[cid])
        assert ids(messages) == sorted(set(ids(messages)))
        for m in messages:
            assert m["timestamp"] == iso_from_ms(snowflake_ms(m["id"]))
    for guild in emu.world.guilds:
        for channel in emu.world.channels[guild["id"]]:
            assert int(channel["id"]) > int(guild["id"])


def test_ids_are_unique_across_the_world(emu: Emulator) -> None:
    seen: list[str] = [g["id"] for g in emu.world.guilds]
    for gid in emu.world.channels:
        seen += [c["id"] for c in emu.world.channels[gid]]
        seen += [r["id"] for r in emu.world.roles[gid] if r["id"] != gid]
        seen += [e["id"] for e in emu.world.emojis[gid]]
        seen += [s["id"] for s in emu.world.stickers[gid]]
        seen += [e["id"] for e in emu.world.scheduled_events[gid]]
        seen += [e["id"] for e in emu.world.audit_log[gid]]
    threads = {t["id"] for ts in emu.world.threads.values() for t in ts}
    messages = [m["id"] for cid in emu.world.messages for m in emu.world.messages[cid]]
    # thread ids may equal their starter message id, nothing else may repeat
    # (https://discord.com/developers/docs/reference#snowflakes)
    assert len(seen) == len(set(seen))
    assert len(messages) == len(set(messages))
    assert not set(seen) & (set(messages) | threads)


def test_ids_cross_the_18_to_19_digit_boundary(emu: Emulator) -> None:
    lengths = {len(g["id"]) for g in emu.world.guilds}
    assert {17, 18} <= lengths
    straddling = [
        cid
        for cid, msgs in emu.world.messages.items()
        if len(msgs) and len(msgs[0]["id"]) == 18 and len(msgs[-1]["id"]) == 19
    ]
    assert straddling


def test_everyone_role_has_the_guild_id(emu: Emulator, http: requests.Session) -> None:
    for guild in emu.world.guilds:
        roles = get(http, emu, f"/guilds/{guild['id']}/roles").json()
        everyone = [r for r in roles if r["name"] == "@everyone"]
        assert everyone[0]["id"] == guild["id"]
        assert any("bot_id" in r.get("tags", {}) for r in roles)
        assert any(r.get("tags", {}).get("premium_subscriber", 0) is None for r in roles)


def test_message_shapes(emu: Emulator) -> None:
    messages = [m for cid in emu.world.messages for m in emu.world.messages[cid]]
    always = {
        "id",
        "channel_id",
        "author",
        "content",
        "timestamp",
        "edited_timestamp",
        "tts",
        "mention_everyone",
        "mentions",
        "mention_roles",
        "attachments",
        "embeds",
        "pinned",
        "type",
        "flags",
        "components",
    }
    for m in messages:
        assert always <= set(m), m
        assert "guild_id" not in m and "member" not in m
        assert m.get("reactions", [1]) != []  # absent when none, never empty
        assert ("referenced_message" in m) == (m["type"] in (19, 21, 23))
    assert any(m["type"] == 19 and m["referenced_message"] for m in messages)
    assert any(m["type"] == 21 for m in messages)
    assert any(m["edited_timestamp"] for m in messages)
    assert any(m["attachments"] and "?ex=" in m["attachments"][0]["url"] for m in messages)
    assert any("\u0000" in m["content"] for m in messages)
    assert any("\n" in m["content"] for m in messages)
    assert any(m.get("thread") for m in messages)


# messages --------------------------------------------------------------------------------


def test_messages_default_page_is_the_newest_50_newest_first(emu, http) -> None:
    cid = text_channel_with(emu, 101)
    page = get(http, emu, f"/channels/{cid}/messages").json()
    truth = ids(emu.world.messages[cid])
    assert ids(page) == truth[-50:][::-1]


def test_after_returns_the_next_ids_still_newest_first(emu, http) -> None:
    cid = text_channel_with(emu, 101)
    truth = ids(emu.world.messages[cid])
    page = get(http, emu, f"/channels/{cid}/messages", after=truth[9], limit=5).json()
    assert ids(page) == truth[10:15][::-1]  # exclusive bound, smallest ids above it
    first = get(http, emu, f"/channels/{cid}/messages", after=0, limit=100).json()
    assert ids(first) == truth[:100][::-1]
    rest = get(http, emu, f"/channels/{cid}/messages", after=first[0]["id"], limit=100).json()
    assert ids(rest) == [truth[100]]


def test_before_is_exclusive_and_newest_first(emu, http) -> None:
    cid = text_channel_with(emu, 101)
    truth = ids(emu.world.messages[cid])
    page = get(http, emu, f"/channels/{cid}/messages", before=truth[20], limit=3).json()
    assert ids(page) == truth[17:20][::-1]


def test_around_centres_on_the_id(emu, http) -> None:
    cid = text_channel_with(emu, 101)
    truth = ids(emu.world.messages[cid])
    page = ids(get(http, emu, f"/channels/{cid}/messages", around=truth[50], limit=4).json())
    assert page == sorted(page, reverse=True)
    assert set(page) == {truth[48], truth[49], truth[51], truth[52]}


def test_date_snowflake_cursor_selects_by_time(emu, http) -> None:
    cid = text_channel_with(emu, 100)
    truth = list(emu.world.messages[cid])
    cut = truth[40]["timestamp"]
    from tests.emulator.snowflakes import ms_from_iso

    after = ((ms_from_iso(cut) - DISCORD_EPOCH_MS) << 22) - 1
    page = get(http, emu, f"/channels/{cid}/messages", after=after, limit=100).json()
    assert sorted(ids(page)) == ids(truth[40:])


def test_exactly_100_then_an_empty_page(emu, http) -> None:
    cid = text_channel_with(emu, 100)
    page = get(http, emu, f"/channels/{cid}/messages", after=0, limit=100).json()
    assert len(page) == 100
    assert get(http, emu, f"/channels/{cid}/messages", after=page[0]["id"]).json() == []
    empty = text_channel_with(emu, 0)
    assert get(http, emu, f"/channels/{empty}/messages", after=0).json() == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"after": "abc"}, "after"),
        ({"before": str(1 << 64)}, "before"),
        ({"after": 1, "before": 2}, "_errors"),
        ({"around": 1, "after": 2}, "_errors"),
    ],
)
def test_bad_message_queries_are_400_50035(emu, http, query, field) -> None:
    cid = text_channel_with(emu, 101)
    response = get(http, emu, f"/channels/{cid}/messages", **query)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 50035 and body["message"] == "Invalid Form Body"
    assert field in body["errors"]


def test_message_content_gating_and_its_exceptions(fresh: Emulator, http) -> None:
    bot_id = fresh.world.bot_user["id"]
    cid = text_channel_with(fresh, 101)
    full = {m["id"]: m for m in fresh.world.messages[cid]}
    fresh.settings.message_content_intent = False
    page = get(http, fresh, f"/channels/{cid}/messages", limit=100).json()
    assert page == fresh.visible_messages(cid)[-100:][::-1]
    kept = 0
    for m in page:
        exempt = m["author"]["id"] == bot_id or any(u["id"] == bot_id for u in m["mentions"])
        if exempt:
            kept += 1
            assert m["content"] == full[m["id"]]["content"]
        else:
            assert m["content"] == "" and m["embeds"] == m["attachments"] == []
            assert m["components"] == [] and "poll" not in m
        assert m["author"] == full[m["id"]]["author"]
        assert m.get("reactions") == full[m["id"]].get("reactions")
    assert kept, "the world has messages by or mentioning the bot"
    flags = get(http, fresh, "/applications/@me").json()["flags"]
    assert not flags & ((1 << 18) | (1 << 19))
    fresh.settings.message_content_intent = True
    assert get(http, fresh, "/applications/@me").json()["flags"] & (1 << 19)


def test_hidden_routes_answer_unknown_route(fresh: Emulator, http) -> None:
    assert get(http, fresh, "/applications/@me").status_code == 200
    fresh.settings.update(hidden_routes=["application"])
    response = get(http, fresh, "/applications/@me")
    assert (response.status_code, response.json()) == (
        404,
        {"message": "404: Not Found", "code": 0},
    )
    assert get(http, fresh, "/users/@me").status_code == 200


def test_single_message_and_unknown_message(emu, http) -> None:
    cid = text_channel_with(emu, 101)
    msg = emu.world.messages[cid][5]
    assert get(http, emu, f"/channels/{cid}/messages/{msg['id']}").json() == msg
    response = get(http, emu, f"/channels/{cid}/messages/1234")
    assert (response.status_code, response.json()) == (
        404,
        {"message": "Unknown Message", "code": 10008},
    )


def test_forum_and_category_channels_hold_no_messages(emu, http) -> None:
    for channels in emu.world.channels.values():
        for channel in channels:
            if channel["type"] in (4, 15, 16):
                response = get(http, emu, f"/channels/{channel['id']}/messages")
                assert response.status_code == 400
                assert response.json()["code"] == 50024


# live changes ------------------------------------------------------------------------


def test_add_messages_while_serving(fresh: Emulator, http) -> None:
    cid = text_channel_with(fresh, 101)
    before = ids(fresh.world.messages[cid])
    added = fresh.add_messages(cid, 3)
    assert ids(added) == sorted(ids(added)) and ids(added)[0] > before[-1]
    assert abs(snowflake_ms(added[-1]["id"]) / 1000 - time.time()) < 5
    assert fresh.world.index[cid]["last_message_id"] == added[-1]["id"]
    page = get(http, fresh, f"/channels/{cid}/messages", after=before[-1]).json()
    assert ids(page) == ids(added)[::-1]
    channel = get(http, fresh, f"/channels/{cid}").json()
    assert channel["last_message_id"] == added[-1]["id"]


def test_add_messages_to_a_thread_updates_the_thread(fresh: Emulator, http) -> None:
    gid = fresh.world.guilds[0]["id"]
    thread = next(t for t in fresh.world.threads[gid] if t["type"] == 11)
    count = thread["message_count"]
    added = fresh.add_messages(thread["id"], 2)
    assert thread["last_message_id"] == added[-1]["id"]
    assert thread["message_count"] == count + 2
    assert not thread["thread_metadata"]["archived"]


def test_edit_and_delete(fresh: Emulator, http) -> None:
    cid = text_channel_with(fresh, 101)
    reply = next(m for m in fresh.world.messages[cid] if m["type"] == 19)
    target = reply["message_reference"]["message_id"]
    fresh.edit_message(cid, target, "edited ✓")
    got = get(http, fresh, f"/channels/{cid}/messages/{target}").json()
    assert got["content"] == "edited ✓" and got["edited_timestamp"]
    got = get(http, fresh, f"/channels/{cid}/messages/{reply['id']}").json()
    assert got["referenced_message"]["content"] == "edited ✓"
    fresh.delete_message(cid, target)
    assert get(http, fresh, f"/channels/{cid}/messages/{target}").status_code == 404
    got = get(http, fresh, f"/channels/{cid}/messages/{reply['id']}").json()
    assert got["referenced_message"] is None
    assert int(target) not in ids(fresh.world.messages[cid])


def test_the_control_route_removes_the_rest_of_a_guild(fresh: Emulator, http) -> None:
    gid = fresh.world.guilds[0]["id"]
    rest = fresh.world.guild_rest
    event = next(e for e in fresh.world.scheduled_events[gid] if rest.event_users.get(e["id"]))
    thread = next(
        t for t in fresh.world.threads[gid] if 2 <= len(rest.thread_members[t["id"]]) < 50
    )
    ban = rest.bans[gid][0]["user"]["id"]
    rsvp = rest.event_users[event["id"]][0]["user"]["id"]
    leaver = rest.thread_members[thread["id"]][0]["user_id"]
    count = thread["member_count"]

    def delete(kind: str, oid: str, parent: str | None = None) -> dict:
        body = {"kind": kind, "guild_id": gid, "id": oid, "parent": parent}
        reply = requests.post(fresh.base_url + "/_emulator/delete", json=body, timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()

    delete("bans", ban)
    delete("event_users", rsvp, parent=event["id"])
    delete("thread_members", leaver, parent=thread["id"])
    delete("soundboard_sounds", rest.sounds[gid][0]["sound_id"])
    bans = get(http, fresh, f"/guilds/{gid}/bans").json()
    assert ban not in {b["user"]["id"] for b in bans}
    first = bans[0]["user"]["id"]
    assert get(http, fresh, f"/guilds/{gid}/bans", after=first).json() == bans[1:], "paging"
    users = get(http, fresh, f"/guilds/{gid}/scheduled-events/{event['id']}/users").json()
    assert rsvp not in {u["user"]["id"] for u in users}
    members = get(http, fresh, f"/channels/{thread['id']}/thread-members", with_member="true")
    assert leaver not in {m["user_id"] for m in members.json()}
    assert thread["member_count"] == count - 1, "the thread list shows the leave"
    reply = requests.post(
        fresh.base_url + "/_emulator/delete",
        json={"kind": "bans", "guild_id": gid, "id": ban},
        timeout=10,
    )
    assert reply.status_code == 400, "removed twice"


# other routes -------------------------------------------------------------------------


def test_users_me_guilds_pages_ascending(emu, http) -> None:
    truth = sorted(int(g["id"]) for g in emu.world.guilds)
    page = get(http, emu, "/users/@me/guilds").json()
    assert ids(page) == truth
    assert set(page[0]) == {"id", "name", "icon", "banner", "owner", "permissions", "features"}
    assert ids(get(http, emu, "/users/@me/guilds", after=truth[0]).json()) == truth[1:]
    assert ids(get(http, emu, "/users/@me/guilds", limit=1).json()) == truth[:1]
    assert ids(get(http, emu, "/users/@me/guilds", before=truth[-1]).json()) == truth[:-1]
    counted = get(http, emu, "/users/@me/guilds", with_counts="true").json()
    assert all("approximate_member_count" in g for g in counted)
    assert get(http, emu, "/users/@me/guilds", limit=201).status_code == 400


def test_guild_with_and_without_counts(emu, http) -> None:
    gid = emu.world.guilds[0]["id"]
    plain = get(http, emu, f"/guilds/{gid}").json()
    assert "approximate_member_count" not in plain
    counted = get(http, emu, f"/guilds/{gid}", with_counts=1).json()
    assert counted == emu.world.guilds[0]


def test_members_default_limit_is_one_and_pages_ascend(emu, http) -> None:
    gid = emu.world.guilds[0]["id"]
    truth = [int(m["user"]["id"]) for m in emu.world.members[gid]]
    assert truth == sorted(truth)
    one = get(http, emu, f"/guilds/{gid}/members").json()
    assert [int(m["user"]["id"]) for m in one] == truth[:1]
    got, after = [], 0
    while True:
        page = get(http, emu, f"/guilds/{gid}/members", limit=10, after=after).json()
        got += [int(m["user"]["id"]) for m in page]
        if len(page) < 10:
            break
        after = page[-1]["user"]["id"]
    assert got == truth
    assert get(http, emu, f"/guilds/{gid}/members", limit=1001).status_code == 400


def test_members_without_the_intent_is_403_50001(fresh, http) -> None:
    fresh.settings.members_intent = False
    gid = fresh.world.guilds[0]["id"]
    response = get(http, fresh, f"/guilds/{gid}/members", limit=1000)
    assert (response.status_code, response.json()) == (
        403,
        {"message": "Missing Access", "code": 50001},
    )
    assert not get(http, fresh, "/applications/@me").json()["flags"] & ((1 << 14) | (1 << 15))


def test_active_threads_are_id_descending_with_memberships(emu, http) -> None:
    gid = emu.world.guilds[0]["id"]
    body = get(http, emu, f"/guilds/{gid}/threads/active").json()
    assert set(body) == {"threads", "members", "has_more"}
    got = ids(body["threads"])
    assert got == sorted(got, reverse=True)
    truth = {int(t["id"]) for t in emu.world.threads[gid] if not t["thread_metadata"]["archived"]}
    assert set(got) == truth
    assert {m["id"] for m in body["members"]} <= {t["id"] for t in body["threads"]}


def test_archived_threads_page_by_iso_before_with_has_more(emu, http) -> None:
    gid = emu.world.guilds[0]["id"]
    parent = next(
        c["id"]
        for c in emu.world.channels[gid]
        if c["type"] == 0
        and sum(
            1
            for t in emu.world.threads[gid]
            if t["parent_id"] == c["id"] and t["type"] == 11 and t["thread_metadata"]["archived"]
        )
        >= 3
    )
    truth = sorted(
        (
            t
            for t in emu.world.threads[gid]
            if t["parent_id"] == parent and t["type"] == 11 and t["thread_metadata"]["archived"]
        ),
        key=lambda t: t["thread_metadata"]["archive_timestamp"],
        reverse=True,
    )
    url = f"/channels/{parent}/threads/archived/public"
    first = get(http, emu, url, limit=2).json()
    assert set(first) == {"threads", "members", "has_more"}
    assert first["has_more"] is True
    assert ids(first["threads"]) == ids(truth[:2])
    before = first["threads"][-1]["thread_metadata"]["archive_timestamp"]
    second = get(http, emu, url, limit=2, before=before).json()
    assert ids(second["threads"]) == ids(truth[2:4])
    assert second["has_more"] is (len(truth) > 4)
    assert get(http, emu, url, limit=1).status_code == 400
    assert get(http, emu, url, before="yesterday").status_code == 400
    private = get(http, emu, f"/channels/{parent}/threads/archived/private").json()
    assert private["threads"] and all(t["type"] == 12 for t in private["threads"])


def test_private_archived_needs_manage_threads_joined_route_does_not(fresh, http) -> None:
    fresh.settings.manage_threads = False
    gid = fresh.world.guilds[0]["id"]
    parent = next(
        t["parent_id"]
        for t in fresh.world.threads[gid]
        if t["type"] == 12 and t["thread_metadata"]["archived"]
    )
    response = get(http, fresh, f"/channels/{parent}/threads/archived/private")
    assert (response.status_code, response.json()["code"]) == (403, 50013)
    joined = get(http, fresh, f"/channels/{parent}/users/@me/threads/archived/private").json()
    got = ids(joined["threads"])
    assert got == sorted(got, reverse=True)
    assert all(t["id"] in fresh.world.thread_members for t in joined["threads"])


def test_audit_log_order_flips_with_the_cursor(emu, http) -> None:
    gid = emu.world.guilds[0]["id"]
    truth = ids(emu.world.audit_log[gid])
    url = f"/guilds/{gid}/audit-logs"
    body = get(http, emu, url).json()
    assert set(body) == {
        "audit_log_entries",
        "users",
        "integrations",
        "webhooks",
        "guild_scheduled_events",
        "threads",
        "application_commands",
        "auto_moderation_rules",
    }
    assert ids(body["audit_log_entries"]) == truth[::-1][:50]
    assert ids(get(http, emu, url, after=0, limit=5).json()["audit_log_entries"]) == truth[:5]
    before = get(http, emu, url, before=truth[10], limit=3).json()["audit_log_entries"]
    assert ids(before) == truth[7:10][::-1]
    users = {u["id"] for u in body["users"]}
    assert {e["user_id"] for e in body["audit_log_entries"]} <= users
    for entry in emu.world.audit_log[gid]:
        if entry["action_type"] in (100, 110):  # events and threads existed already
            assert snowflake_ms(entry["target_id"]) < snowflake_ms(entry["id"])
    assert get(http, emu, url, limit=101).status_code == 400


def test_audit_log_and_invites_need_permissions(fresh, http) -> None:
    gid = fresh.world.guilds[0]["id"]
    full = get(http, fresh, f"/guilds/{gid}/invites").json()
    assert full and all("uses" in i and "created_at" in i for i in full)
    fresh.settings.manage_guild = False
    partial = get(http, fresh, f"/guilds/{gid}/invites").json()
    assert [i["code"] for i in partial] == [i["code"] for i in full]
    assert not any("uses" in i for i in partial)
    fresh.settings.view_audit_log = False
    for path in (f"/guilds/{gid}/invites", f"/guilds/{gid}/audit-logs"):
        response = get(http, fresh, path)
        assert (response.status_code, response.json()) == (
            403,
            {"message": "Missing Permissions", "code": 50013},
        )


def test_scheduled_events_user_count_only_on_request(emu, http) -> None:
    gid = emu.world.guilds[0]["id"]
    plain = get(http, emu, f"/guilds/{gid}/scheduled-events").json()
    counted = get(http, emu, f"/guilds/{gid}/scheduled-events", with_user_count="true").json()
    assert plain and not any("user_count" in e for e in plain)
    assert all("user_count" in e for e in counted)


# errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", [None, "Bot wrong", f"Bearer {TOKEN}", TOKEN, f"bot {TOKEN}"])
def test_bad_authorization_is_401(emu, auth) -> None:
    headers = {"Authorization": auth} if auth else {}
    response = requests.get(f"{emu.api_url}/users/@me", headers=headers, timeout=10)
    assert (response.status_code, response.json()) == (
        401,
        {"message": "401: Unauthorized", "code": 0},
    )


def test_unreadable_no_history_unknown(emu, http) -> None:
    hidden = next(iter(emu.world.unreadable))
    response = get(http, emu, f"/channels/{hidden}/messages")
    assert (response.status_code, response.json()) == (
        403,
        {"message": "Missing Access", "code": 50001},
    )
    quiet = next(iter(emu.world.no_history))
    response = get(http, emu, f"/channels/{quiet}/messages")
    assert (response.status_code, response.json()) == (200, [])
    assert emu.visible_messages(quiet) == [] and emu.visible_messages(hidden) == []
    assert len(emu.world.messages[quiet]) > 0
    for path, body in (
        ("/channels/123/messages", {"message": "Unknown Channel", "code": 10003}),
        ("/guilds/123", {"message": "Unknown Guild", "code": 10004}),
        ("/guilds/123/members", {"message": "Unknown Guild", "code": 10004}),
        ("/nowhere", {"message": "404: Not Found", "code": 0}),
    ):
        response = get(http, emu, path)
        assert (response.status_code, response.json()) == (404, body)


def test_every_api_response_says_via_google_and_json(emu, http) -> None:
    for path in ("/users/@me", "/channels/123", "/nowhere"):
        response = get(http, emu, path)
        assert response.headers["Via"] == "1.1 google"
        assert response.headers["Content-Type"].startswith("application/json")


def test_requests_are_recorded(fresh, http) -> None:
    cid = text_channel_with(fresh, 101)
    get(http, fresh, f"/channels/{cid}/messages", limit=2)
    get(http, fresh, "/channels/123/messages")
    records = fresh.requests
    assert [(r.route, r.major, r.status, r.kind) for r in records] == [
        ("messages", cid, 200, "ok"),
        ("messages", "123", 404, "404"),
    ]
    assert records[0].path.endswith("limit=2") and records[0].method == "GET"
    fresh.reset_requests()
    assert fresh.requests == []


# command line and control endpoints ------------------------------------------------


def test_command_line_serves_until_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "url"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.emulator",
            "--world",
            "small",
            "--port",
            "0",
            "--bot-token",
            "cli-token",
            "--rate-limits",
            "real",
            "--time-scale",
            "0.5",
            "--ready-file",
            str(ready),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("EMULATOR_READY http://127.0.0.1:")
        api = line.split()[1]
        assert ready.read_text().strip() == api
        auth = {"Authorization": "Bot cli-token"}
        assert requests.get(api + "/users/@me", headers=auth, timeout=10).status_code == 200
        base = api.rsplit("/api/", 1)[0]
        added = requests.post(base + "/_emulator/messages", json={"count": 5}, timeout=10).json()
        assert added["count"] == 5 and len(added["ids"]) == 5
        stats = requests.get(base + "/_emulator/stats", timeout=10).json()
        assert stats["requests"] == 1 and stats["ok"] == 1
        settings = requests.post(
            base + "/_emulator/settings", json={"time_scale": 0.25}, timeout=10
        ).json()
        assert settings["time_scale"] == 0.25 and settings["rate_limits"] == "real"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert proc.stdout.read() == ""


def test_control_messages_go_to_readable_channels(fresh) -> None:
    response = requests.post(fresh.base_url + "/_emulator/messages", json={"count": 20}, timeout=10)
    created = response.json()["messages"]
    assert len(created) == 20
    for item in created:
        assert item["id"] in {m["id"] for m in fresh.visible_messages(item["channel_id"])}


def test_bench_bulk_builds_fast_and_serves_pages() -> None:
    started = time.monotonic()
    with Emulator(WorldSpec.bench_bulk(), bot_token=TOKEN) as bulk:
        built = time.monotonic() - started
        assert built < 10
        total = sum(len(bulk.world.messages[c]) for c in bulk.world.messages)
        assert total == 1_000_000
        cid = next(iter(bulk.world.messages))
        response = requests.get(
            f"{bulk.api_url}/channels/{cid}/messages",
            params={"after": 0, "limit": 100},
            headers={"Authorization": f"Bot {TOKEN}"},
            timeout=10,
        )
        page = response.json()
        assert len(page) == 100 and int(page[0]["id"]) > int(page[-1]["id"])
        assert json.loads(response.content) == page


def test_served_json_is_exactly_the_ground_truth(fresh: Emulator, http) -> None:
    """The fast serializer of plain messages and the generic one agree with world dicts."""
    for gated in (False, True):
        fresh.settings.message_content_intent = not gated
        for cid in fresh.world.messages:
            got = []
            after = 0
            while True:
                page = get(http, fresh, f"/channels/{cid}/messages", after=after, limit=100)
                if page.status_code != 200 or not page.json():
                    break
                got += page.json()[::-1]
                after = page.json()[0]["id"]
            if page.status_code == 200:
                assert got == fresh.visible_messages(cid)


def test_users_me_guilds_default_limit_is_200(http) -> None:
    spec = WorldSpec(
        guilds=201,
        text_channels=1,
        messages_per_channel=0,
        other_channel_types=False,
        members=2,
        invites=0,
        emojis=0,
        stickers=0,
        scheduled_events=0,
        audit_log_entries=0,
        threads_per_kind=0,
    )
    with Emulator(spec, bot_token=TOKEN) as many:
        truth = sorted(int(g["id"]) for g in many.world.guilds)
        page = get(http, many, "/users/@me/guilds").json()
        assert ids(page) == truth[:200]
        rest = get(http, many, "/users/@me/guilds", after=page[-1]["id"]).json()
        assert ids(rest) == truth[200:]
