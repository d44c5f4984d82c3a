"""The emulator's `corrupt` knob breaks exactly the objects it says, the same way each time."""

from __future__ import annotations

import requests

from tests.emulator import Emulator, WorldSpec
from tests.emulator.corrupt import rules_breaking

TOKEN = "corrupt-knob-token"
HEADERS = {"Authorization": f"Bot {TOKEN}"}
RULES = [
    {"rate": 0.3, "set": {"flags": "not-a-number", "brand_new": [1]}},
    {"rate": 0.1, "drop": ["id"]},
]


def get(emu: Emulator, path: str) -> object:
    response = requests.get(emu.api_url + path, headers=HEADERS, timeout=10)
    assert response.status_code == 200
    return response.json()


def busy_channel(emu: Emulator) -> str:
    return max(emu.world.messages, key=lambda cid: len(emu.visible_messages(cid)))


def test_rules_break_the_objects_they_pick_and_only_those() -> None:
    with Emulator(WorldSpec.small(guilds=1), bot_token=TOKEN) as emu:
        channel = busy_channel(emu)
        truth = {m["id"]: m for m in emu.visible_messages(channel)}
        emu.settings.corrupt = {"messages": RULES}
        page = get(emu, f"/channels/{channel}/messages?limit=100")
        assert isinstance(page, list) and len(page) == min(100, len(truth))
        ids = sorted(truth, key=int, reverse=True)[: len(page)]
        for message, mid in zip(page, ids, strict=True):
            broken = rules_breaking(0, "messages", RULES, truth[mid])
            assert ("id" in message) == (1 not in broken)
            if 0 in broken:
                assert message["flags"] == "not-a-number" and message["brand_new"] == [1]
            else:
                assert message["flags"] == truth[mid]["flags"] and "brand_new" not in message
        assert 0 < sum(m.get("flags") == "not-a-number" for m in page) < len(page)
        assert get(emu, f"/channels/{channel}/messages?limit=100") == page, "stable"
        guild = emu.world.guilds[0]["id"]
        assert "brand_new" not in str(get(emu, f"/guilds/{guild}/channels")), "other routes"


def test_thread_lists_and_single_objects_are_broken_too() -> None:
    with Emulator(WorldSpec.small(guilds=1), bot_token=TOKEN) as emu:
        guild = emu.world.guilds[0]["id"]
        everything = [{"rate": 1.0, "set": {"position": "first"}}]
        emu.settings.corrupt = {"active_threads": everything, "guild": everything}
        threads = get(emu, f"/guilds/{guild}/threads/active")
        assert threads["threads"] and all(t["position"] == "first" for t in threads["threads"])
        assert get(emu, f"/guilds/{guild}")["position"] == "first"
        emu.settings.corrupt = {}
        assert "position" not in get(emu, f"/guilds/{guild}")
