"""The write-output-before-any-wait rule has one list of its call sites.

`TapDiscord.flush_output` names every place that calls it and why; a new caller must
be added there, so that the rule stays readable in one docstring.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tap_discord.tap import TapDiscord

PACKAGE = Path(__file__).resolve().parent.parent / "tap_discord"


def callers_of(attribute: str) -> set[str]:
    """`Class.method` (or `function`) of every use of `.attribute` in the package."""
    found: set[str] = set()

    def walk(node: ast.AST, scope: tuple[str, ...]) -> None:
        for child in ast.iter_child_nodes(node):
            inner = scope
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                inner = (*scope, child.name)
            if isinstance(child, ast.Attribute) and child.attr == attribute:
                found.add(".".join(scope[:2]))
            walk(child, inner)

    for path in PACKAGE.rglob("*.py"):
        walk(ast.parse(path.read_text(encoding="utf-8")), ())
    return found


def test_the_flush_hook_lists_every_caller() -> None:
    doc = TapDiscord.flush_output.__doc__ or ""
    listed = set(re.findall(r"^\s*\* `([\w.]+)`", doc, re.M))
    callers = callers_of("flush_output")
    assert callers, "no caller of flush_output found: has the hook moved?"
    assert callers == listed, (
        f"callers not listed in TapDiscord.flush_output: {sorted(callers - listed)}; "
        f"listed but no longer calling it: {sorted(listed - callers)}"
    )
