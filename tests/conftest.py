"""Session-wide reporting: measured figures, and how much output the secret scan covered."""

from __future__ import annotations

import pytest

from tests.tapharness import REPORT, SCANNED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures tests measured, and how much output the secret scan covered."""
    for line in REPORT:
        terminalreporter.write_line(line)
    if SCANNED.runs:
        terminalreporter.write_line(
            f"secret scan: {SCANNED.runs} tap outputs (runs at DEBUG, Meltano logs), "
            f"{SCANNED.bytes / 1e6:.1f} MB of stdout+stderr, {len(SCANNED.secrets)} distinct "
            "secrets looked for (a leak fails its test)"
        )
