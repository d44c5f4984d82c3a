"""The SDK's standard tap and stream tests, against the emulator over loopback."""

from __future__ import annotations

import dataclasses

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_discord.tap import TapDiscord
from tests.emulator import Emulator, WorldSpec
from tests.emulator.control import writable_channels

TOKEN = "standard-tests-bot-token"

# The standard suite builds its test class at import time, so the emulator is
# started here (daemon threads; it stops with the test process).
# Pins are opt-in in the emulator's worlds: two per channel give `pins` records.
_WORLD = dataclasses.replace(WorldSpec.small(), pins_per_channel=2)
_EMULATOR = Emulator(_WORLD, bot_token=TOKEN).__enter__()


def _vote_and_react_everywhere() -> None:
    """A voted, reacted poll as the newest message of every readable channel: the
    generated history's polls are few, and follow the clock (some days, none is among
    the messages the suite's record limit reads, and `poll_votes` would be empty)."""
    for channel in writable_channels(_EMULATOR):
        guild = _EMULATOR.world.guild_of[channel]
        user = str(_EMULATOR.world.members[guild][0]["user"]["id"])
        poll = _EMULATOR.post_poll(channel, ["Yes", "No"])["id"]
        _EMULATOR.vote(channel, poll, 1, user)
        _EMULATOR.react(channel, poll, {"id": None, "name": "👍"}, user)


_vote_and_react_everywhere()

_CONFIG = {"bot_token": TOKEN, "api_url": _EMULATOR.api_url}


def _catalog_selecting_everything() -> dict:
    """Streams off by default (user_guilds in bot mode) are tested too."""
    catalog = TapDiscord(config=_CONFIG, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if not item["breadcrumb"]:
                item["metadata"]["selected"] = True
    return catalog


TestTapDiscord = get_tap_test_class(
    tap_class=TapDiscord,
    config=_CONFIG,
    catalog=_catalog_selecting_everything(),
    parse_env_config=False,
    suite_config=SuiteConfig(max_records_limit=150, ignore_no_records_for_streams=["user_guilds"]),
)
