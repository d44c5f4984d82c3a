"""Rewrite the README's settings section from `tap-discord --about --format=markdown`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def settings_table() -> str:
    """The settings table exactly as the tap describes itself."""
    about = subprocess.run(
        [sys.executable, "-m", "tap_discord", "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = about.splitlines()
    table = [line for line in lines if line.startswith("|")]
    return "\n".join(table)


def rendered(readme: str, table: str) -> str:
    """The README with its settings section replaced."""
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main() -> None:
    """Update README.md in place."""
    README.write_text(rendered(README.read_text(), settings_table()))


if __name__ == "__main__":
    main()
