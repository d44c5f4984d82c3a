"""The README's settings table is the one the tap prints."""

from __future__ import annotations

from scripts.update_readme import README, rendered, settings_table


def test_readme_settings_match_about() -> None:
    readme = README.read_text()
    assert rendered(readme, settings_table()) == readme, "run: python scripts/update_readme.py"


def test_readme_has_the_two_commands() -> None:
    readme = README.read_text()
    assert "make demo" in readme
    assert "make test" in readme
