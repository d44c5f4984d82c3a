"""The SDK's standard tap and stream tests, against the emulator over loopback."""

from __future__ import annotations

import dataclasses

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_discord.tap import TapDiscord
from tests.emulator import Emulator, WorldSpec

TOKEN = "standard-tests-bot-token"

# The standard suite builds its test class at import time, so the emulator is
# started here (daemon threads; it stops with the test process).
# Pins are opt-in in the emulator's worlds: two per channel give `pins` records.
_WORLD = dataclasses.replace(WorldSpec.small(), pins_per_channel=2)
_EMULATOR = Emulator(_WORLD, bot_token=TOKEN).__enter__()

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
