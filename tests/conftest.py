"""Session-wide reporting: how much tap output the secret scan covered."""

from __future__ import annotations

import pytest

from tests.tapharness import SCANNED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line: every tap run's stdout+stderr (at DEBUG) was scanned for secrets."""
    if SCANNED.runs:
        terminalreporter.write_line(
            f"secret scan: {SCANNED.runs} tap runs at DEBUG, "
            f"{SCANNED.bytes / 1e6:.1f} MB of stdout+stderr, {len(SCANNED.secrets)} distinct "
            "secrets, none printed"
        )
