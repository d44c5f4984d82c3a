"""NUL characters: replaced with U+FFFD at every depth, in every stream, before output."""

from __future__ import annotations

import json

import pytest

from tap_discord.nulchars import may_hold_nul, replace_nul
from tap_discord.writer import FloatFreeRecord
from tests.emulator import Emulator, WorldSpec
from tests.tapharness import as_emitted, as_loaded, nul_paths, run_tap

TOKEN = "nulchars-test-bot-token"


def test_every_string_at_any_depth_and_every_key_is_cleaned() -> None:
    value = {
        "a\x00": "x\x00y",
        "list": ["\x00", {"deep": [{"deeper": "z\x00"}]}, 1, None, 2.5, True],
        "clean": "no nul",
    }
    cleaned = replace_nul(value)
    assert cleaned is value  # changed in place
    assert cleaned == {
        "a\ufffd": "x\ufffdy",
        "list": ["\ufffd", {"deep": [{"deeper": "z\ufffd"}]}, 1, None, 2.5, True],
        "clean": "no nul",
    }
    assert list(cleaned) == ["a\ufffd", "list", "clean"]  # key order kept


def test_the_record_class_is_kept() -> None:
    record = FloatFreeRecord({"content": "a\x00"})
    assert type(replace_nul(record)) is FloatFreeRecord
    assert record == {"content": "a\ufffd"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (json.dumps({"content": "a\x00b"}).encode(), True),
        (b'{"content": "plain"}', False),
        (b'{"content": "\\\\u0000 is text, not a NUL"}', True),  # a harmless false match
    ],
)
def test_a_body_without_the_escape_holds_no_nul(body: bytes, expected: bool) -> None:
    assert may_hold_nul(body) is expected


def test_a_world_with_nul_everywhere_is_emitted_without_one() -> None:
    """Every stream of a world with NULs at every depth: none reaches the output, and
    messages equal what Discord serves with U+FFFD in their place."""
    spec = WorldSpec.small(nul_everywhere=True)
    with Emulator(spec, bot_token=TOKEN) as emu:
        run = run_tap({"bot_token": TOKEN, "api_url": emu.api_url})
        served = {m["id"]: m for cid in emu.world.messages for m in emu.visible_messages(str(cid))}
        guilds = {g["id"]: g for g in emu.world.guilds}
        entries = {e["id"]: e for log in emu.world.audit_log.values() for e in log}
    assert run.returncode == 0, run.stderr
    assert "\\u0000" not in run.stdout
    assert "\\ufffd" in run.stdout
    messages = {m["id"]: m for m in run.records("messages")}
    assert messages.keys() == served.keys()
    nested = 0
    for message_id, message in served.items():
        record = {k: v for k, v in messages[message_id].items() if k != "guild_id"}
        assert record == as_loaded(as_emitted(message))
        nested += any(len(path) > 1 for path in nul_paths(message))
    assert nested >= 3, "the world holds NULs below the top level of messages"
    for guild in run.records("guilds"):
        assert guild["description"] == as_loaded(guilds[guild["id"]]["description"])
    for entry in run.records("audit_log"):
        assert entry.get("changes") == as_loaded(entries[entry["id"]].get("changes"))
