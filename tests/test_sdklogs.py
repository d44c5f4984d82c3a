"""A DEBUG log without the SDK's per-field selection lines, and with everything else."""

from __future__ import annotations

import logging

import pytest

from tap_discord.sdklogs import OMITTED_SELECTION, SDK_CATALOG_LOGGER
from tap_discord.tap import TapDiscord

CONFIG = {"bot_token": "sdklogs-test-token-value", "api_url": "http://127.0.0.1:9/api/v10"}


def test_resolving_the_selection_at_debug_logs_no_selection_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tap = TapDiscord(config=CONFIG)
    messages = tap.streams["messages"]
    assert messages.selected, "the selection itself is unchanged"
    assert messages.mask[("properties", "referenced_message", "properties", "author")] is True
    assert not [r for r in caplog.records if r.getMessage().startswith(OMITTED_SELECTION)]


def test_the_sdks_other_catalog_lines_still_pass(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    TapDiscord(config=CONFIG)
    logger = logging.getLogger(SDK_CATALOG_LOGGER)
    logger.debug("Property '%s' was selected but is not supported.", "x")
    logger.debug(OMITTED_SELECTION + "'%s'. Using parent value of selected=%s.", "y", True)
    assert [r.getMessage() for r in caplog.records if r.name == SDK_CATALOG_LOGGER] == [
        "Property 'x' was selected but is not supported."
    ]
