"""Objects that break the schema, on purpose (knob `settings.corrupt`).

`corrupt` maps a route name to rules; each rule picks objects of that route's 200
responses with probability `rate` and changes them: `set` fields to given values (a
wrong type, or a field Discord never sent before) and `drop` fields (a missing id).
Which objects are picked depends only on `fault_seed`, the route and the object's id
(or position), so the same message is broken in every response that carries it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tests.emulator.messages import dumps


def corrupt_body(body: Any, route: str, rules: list[dict[str, Any]], seed: int) -> Any:
    """The body (bytes or JSON value) with the route's rules applied to its objects."""
    value = json.loads(body) if isinstance(body, bytes) else json.loads(dumps(body))
    items = value.get("threads", []) if isinstance(value, dict) and "threads" in value else None
    if items is None:
        items = value if isinstance(value, list) else [value]
    for position, item in enumerate(items):
        if isinstance(item, dict):
            for number, rule in enumerate(rules):
                if picked(seed, route, number, item.get("id", position), rule["rate"]):
                    apply(item, rule)
    return value


def picked(seed: int, route: str, rule: int, key: object, rate: float) -> bool:
    """A stable coin flip per (seed, route, rule, object)."""
    digest = hashlib.sha256(f"{seed}:{route}:{rule}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < float(rate)


def apply(item: dict[str, Any], rule: dict[str, Any]) -> None:
    """Set and drop the rule's fields on one object."""
    item.update(rule.get("set") or {})
    for name in rule.get("drop") or ():
        item.pop(name, None)


def rules_breaking(seed: int, route: str, rules: list[dict[str, Any]], item: dict) -> list[int]:
    """Numbers of the rules that break this object (ground truth for tests)."""
    return [
        number
        for number, rule in enumerate(rules)
        if picked(seed, route, number, item.get("id"), rule["rate"])
    ]
