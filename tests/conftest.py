"""Session-wide reporting: the figures tests measured, and how much output the secret
scan covered, gathered from every pytest-xdist worker when the tests run in several."""

from __future__ import annotations

import hashlib
import typing as t

import pytest

from tests.tapharness import REPORT, SCANNED

#: The key a worker hands its figures to the controller under (pytest-xdist).
WORKER_OUTPUT_KEY = "tap_discord_report"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a pytest-xdist worker: hand this worker's figures to the controller."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output[WORKER_OUTPUT_KEY] = {
            "report": list(REPORT),
            "runs": SCANNED.runs,
            "bytes": SCANNED.bytes,
            # Digests, not the secrets: only their number is reported.
            "secrets": sorted(hashlib.sha256(s.encode()).hexdigest() for s in SCANNED.secrets),
        }


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: t.Any, error: object) -> None:
    """On the controller: add a finished worker's figures to the session's."""
    figures = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
    if figures:
        REPORT.extend(figures["report"])
        SCANNED.runs += figures["runs"]
        SCANNED.bytes += figures["bytes"]
        SCANNED.secrets |= set(figures["secrets"])


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
