"""The emulator's pins, reaction users and poll voters routes follow Discord's rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests

from tests.emulator import Emulator, WorldSpec

TOKEN = "emulator-social-test-token"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    spec = dataclasses.replace(WorldSpec.small(), pins_per_channel=3)
    with Emulator(spec, bot_token=TOKEN) as emulator:
        yield emulator


def get(emu: Emulator, path: str, **params: object) -> requests.Response:
    headers = {"Authorization": f"Bot {TOKEN}"}
    return requests.get(emu.api_url + path, params=params, headers=headers, timeout=10)


def text_channel(emu: Emulator) -> str:
    guild = emu.world.guilds[0]["id"]
    return next(
        c["id"]
        for c in emu.world.channels[guild]
        if c["type"] == 0 and emu.visible_messages(c["id"])
    )


def test_pins_page_newest_first_by_pinned_at_and_follow_the_channel(emu: Emulator) -> None:
    cid = text_channel(emu)
    for message in emu.add_messages(cid, 60):
        emu.pin_message(cid, message["id"])
    first = get(emu, f"/channels/{cid}/messages/pins").json()
    assert len(first["items"]) == 50 and first["has_more"] is True
    stamps = [item["pinned_at"] for item in first["items"]]
    assert stamps == sorted(stamps, reverse=True)
    rest = get(emu, f"/channels/{cid}/messages/pins", before=stamps[-1]).json()
    assert len(rest["items"]) == 13 and rest["has_more"] is False  # 63 pins, `before` exclusive
    channel = get(emu, f"/channels/{cid}").json()
    assert channel["last_pin_timestamp"] == stamps[0]
    assert all(item["message"]["pinned"] for item in first["items"] + rest["items"])

    unpinned = first["items"][0]["message"]["id"]
    emu.unpin_message(cid, unpinned)
    assert get(emu, f"/channels/{cid}").json()["last_pin_timestamp"] == stamps[0]
    page = get(emu, f"/channels/{cid}/messages", limit=100).json()
    assert next(m for m in page if m["id"] == unpinned)["pinned"] is False
    assert get(emu, f"/channels/{cid}/messages/pins", limit=51).status_code == 400

    emu.world.no_history.add(cid)
    assert get(emu, f"/channels/{cid}/messages/pins").json() == {"items": [], "has_more": False}


def test_a_message_just_posted_has_no_reactions_or_poll(emu: Emulator) -> None:
    """Generated history has reactions and polls; a message posted while serving starts
    bare, so a test's own reactions and votes are the only ones on it."""
    cid = text_channel(emu)
    posted = {m["id"] for m in emu.add_messages(cid, 400)}
    page = get(emu, f"/channels/{cid}/messages", limit=100).json()
    assert posted >= {m["id"] for m in page}
    assert not any("reactions" in m or "poll" in m for m in emu.visible_messages(cid)[-400:])
    history = [m for c in emu.world.messages for m in emu.visible_messages(c)]
    reacted = [m for m in history if "reactions" in m and m["id"] not in posted]
    assert reacted, "the world's history keeps its reactions"


def test_reaction_users_by_type_and_after_agree_with_the_counts(emu: Emulator) -> None:
    cid = text_channel(emu)
    (mid,) = (m["id"] for m in emu.add_messages(cid, 1))
    members = [str(10**17 + i) for i in range(30)]  # any user may react
    for user in members[:30]:
        emu.react(cid, mid, {"id": None, "name": "🔥"}, user)
    emu.react(cid, mid, {"id": None, "name": "🔥"}, members[0], burst=True)
    path = f"/channels/{cid}/messages/{mid}/reactions/{quote('🔥')}"
    assert [u["id"] for u in get(emu, path).json()] == members[:25]  # default limit 25
    rest = get(emu, path, after=members[24], limit=100).json()
    assert [u["id"] for u in rest] == members[25:30]
    assert [u["id"] for u in get(emu, path, type=1).json()] == [members[0]]
    (reaction,) = next(m for m in emu.visible_messages(cid) if m["id"] == mid)["reactions"]
    assert reaction["count_details"] == {"normal": 30, "burst": 1}
    bad = get(emu, f"/channels/{cid}/messages/{mid}/reactions/{quote('x:y', safe='')}")
    assert (bad.status_code, bad.json()["code"]) == (404, 10014)


def test_poll_voters_come_wrapped_and_follow_votes(emu: Emulator) -> None:
    cid = text_channel(emu)
    poll = emu.post_poll(cid, ["A", "B"])["id"]
    users = sorted(
        (str(m["user"]["id"]) for m in emu.world.members[emu.world.guilds[0]["id"]]), key=int
    )
    emu.vote(cid, poll, 1, users[0])
    emu.vote(cid, poll, 1, users[1])
    emu.vote(cid, poll, 2, users[1])  # single choice: the vote moves
    body = get(emu, f"/channels/{cid}/polls/{poll}/answers/1").json()
    assert body == {"users": [dict(body["users"][0], id=users[0])]}
    counts = next(m for m in emu.visible_messages(cid) if m["id"] == poll)["poll"]["results"]
    assert [(c["id"], c["count"]) for c in counts["answer_counts"]] == [(1, 1), (2, 1)]
    emu.finalize_poll(cid, poll)
    final = next(m for m in emu.visible_messages(cid) if m["id"] == poll)["poll"]["results"]
    assert final["is_finalized"] is True
