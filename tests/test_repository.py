"""The repository stands on its own: no tracked file points at notes a clone lacks.

Facts about Discord are cited from its official pages, discord-api-docs issues or
docs/discord-behaviour.md; a path to notes outside the repository, or a section
number of them, is a reference no reader of a clone can follow.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Built from parts, so that this file does not name them itself.
FORBIDDEN = (
    "../" + "shared",
    "/work/" + "shared",
    "discord-api" + ".md",
    "discord-api-more" + ".md",
    "digest \N{SECTION SIGN}",
)


def tracked_files() -> list[str]:
    """Every file git tracks in this checkout, relative to its root."""
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [name for name in listing.decode("utf-8").split("\0") if name]


def test_no_file_points_outside_the_repository() -> None:
    files = tracked_files()
    assert "tests/test_repository.py" in files
    found = []
    for name in files:
        path = ROOT / name
        if not path.is_file():
            continue
        text = path.read_bytes()
        found += [f"{name}: {needle!r}" for needle in FORBIDDEN if needle.encode("utf-8") in text]
    advice = "cite Discord's docs or docs/discord-behaviour.md instead of:"
    assert not found, "\n".join([advice, *found])
