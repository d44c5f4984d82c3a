"""SDK debug lines a person never acts on, dropped before they are formatted.

The SDK resolves every stream's field selection about twice per run (once for the
stream maps, once for the stream), walking up from each nested field to its parents;
for each field whose catalog entry has no `selected`, it logs "Selection metadata
omitted ... Using parent value" at DEBUG, once per level. Discord's deeply nested
message schema (a referenced message holds a message) makes that some 15,000 lines on
a small server, 90 % of a DEBUG log, which buries the tap's own request and
rate-limit lines. The selection itself is unchanged; only these lines go.
"""

from __future__ import annotations

import logging

from typing_extensions import override

SDK_CATALOG_LOGGER = "singer_sdk.singerlib.catalog"
OMITTED_SELECTION = "Selection metadata omitted for "


class OmittedSelectionFilter(logging.Filter):
    """Drops the SDK's "Selection metadata omitted" lines; keeps every other one."""

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        """False for the repeated selection line."""
        return not (isinstance(record.msg, str) and record.msg.startswith(OMITTED_SELECTION))


def quiet_selection_lines() -> None:
    """Add the filter to the SDK's catalog logger, once per process."""
    logger = logging.getLogger(SDK_CATALOG_LOGGER)
    if not any(isinstance(f, OmittedSelectionFilter) for f in logger.filters):
        logger.addFilter(OmittedSelectionFilter())
