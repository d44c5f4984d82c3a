r"""NUL characters (U+0000) in Discord's data, replaced so that any target can load them.

Discord passes NUL through wherever users write text: message content, embeds,
nicknames, audit-log changes. PostgreSQL refuses it in `text` and in `jsonb` ("unsupported
Unicode escape sequence"), and target-postgres's `sanitize_null_text_characters` cleans
only top-level strings and the strings directly under them, so one NUL deep inside an
embed would stop the whole load. The tap therefore replaces every NUL, at any depth and
in object keys too, with U+FFFD (the replacement character, which is what
target-postgres puts in its place), before the record's schema check: every stream,
every target, the same way.

JSON can only write a NUL as the escape `\u0000` (a raw control character is invalid
JSON), so a page whose bytes do not hold that escape holds no NUL: one substring search
per page is all a clean page costs.
"""

from __future__ import annotations

import typing as t

NUL = "\x00"
REPLACEMENT = "\ufffd"
#: How a NUL is written in a JSON body (a false match, an escaped backslash followed by
#: `u0000`, only costs a walk that changes nothing).
NUL_ESCAPE = b"\\u0000"


def may_hold_nul(body: bytes) -> bool:
    """Whether a JSON body can hold a NUL character (it holds the escape for one)."""
    return NUL_ESCAPE in body


def replace_nul(value: t.Any) -> t.Any:
    """`value` with every NUL replaced; dicts and lists are changed in place.

    A string is returned as a new string. A dict keeps its class and key order.
    """
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT) if NUL in value else value
    if isinstance(value, dict):
        _replace_in_dict(value)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, (str, dict, list)):
                value[index] = replace_nul(item)
    return value


def _replace_in_dict(obj: dict[str, t.Any]) -> None:
    if any(NUL in key for key in obj):
        items = [(replace_nul(key), item) for key, item in obj.items()]
        obj.clear()
        obj.update(items)
    for key, item in obj.items():
        if isinstance(item, (str, dict, list)):
            obj[key] = replace_nul(item)
