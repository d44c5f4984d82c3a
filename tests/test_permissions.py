"""The README's invite integers and stream table follow the tap's own tables."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tap_discord.permissions import (
    OPT_IN_STREAMS,
    PERMISSION_BITS,
    STREAM_PERMISSIONS,
    invite_permissions,
)
from tap_discord.streams import BOT_STREAMS
from tests.emulator import routes

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def default_selection() -> list[str]:
    """Streams `meltano.yml` selects for the bot extractor (`name.*` patterns)."""
    project = yaml.safe_load((REPO / "meltano.yml").read_text())
    (extractor,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-discord"]
    return [pattern.removesuffix(".*") for pattern in extractor["select"]]


def test_every_bot_stream_has_a_permission_entry_and_a_readme_row() -> None:
    names = {cls.name for cls in BOT_STREAMS}
    assert names == set(STREAM_PERMISSIONS)
    table = README.split("## Streams", 1)[1].split("###", 1)[0]
    for name in names:
        assert f"`{name}`" in table, f"README stream table lacks {name}"


def test_default_selection_is_every_bot_stream_but_the_opt_in_ones() -> None:
    assert set(default_selection()) == {cls.name for cls in BOT_STREAMS} - OPT_IN_STREAMS
    assert "thread_members" in OPT_IN_STREAMS, "one request per thread: not by default"
    unselected = {cls.name for cls in BOT_STREAMS if not cls.selected_by_default}
    assert unselected >= OPT_IN_STREAMS, "opt-in streams are off in a discovered catalog too"


def test_readme_invite_integers_match_the_default_selection() -> None:
    full = invite_permissions(default_selection())
    read_only = invite_permissions(default_selection(), read_only=True)
    assert f"permissions={full}`" in README
    assert f"**{read_only}**" in README
    assert full == sum(PERMISSION_BITS.values()), "the default selection needs every bit"
    for name, bit in PERMISSION_BITS.items():
        shift = bit.bit_length() - 1
        assert f"`1<<{shift}`" in README, f"README does not name {name}'s bit"


def test_bits_agree_with_the_emulator() -> None:
    for name in ("VIEW_AUDIT_LOG", "MANAGE_GUILD", "MANAGE_THREADS", "MANAGE_CHANNELS"):
        if name in PERMISSION_BITS:
            assert PERMISSION_BITS[name] == getattr(routes, name)
    assert re.search(r"permissions=\d+", README)
