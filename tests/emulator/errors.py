"""Discord's error bodies and query-string validation that produces them.

Codes: https://discord.com/developers/docs/topics/opcodes-and-status-codes#json
Which body each case gets: docs/discord-behaviour.md#error-bodies

Validation mirrors Discord's 400 "Invalid Form Body" (code 50035): every bad
parameter gets an `_errors` leaf in a tree keyed by parameter name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.emulator.snowflakes import MAX_SNOWFLAKE, ms_from_iso

UNAUTHORIZED = {"message": "401: Unauthorized", "code": 0}
MISSING_ACCESS = {"message": "Missing Access", "code": 50001}
MISSING_PERMISSIONS = {"message": "Missing Permissions", "code": 50013}
UNKNOWN_CHANNEL = {"message": "Unknown Channel", "code": 10003}
UNKNOWN_GUILD = {"message": "Unknown Guild", "code": 10004}
UNKNOWN_MEMBER = {"message": "Unknown Member", "code": 10007}
UNKNOWN_MESSAGE = {"message": "Unknown Message", "code": 10008}
UNKNOWN_EMOJI = {"message": "Unknown Emoji", "code": 10014}
NOT_FOUND = {"message": "404: Not Found", "code": 0}
METHOD_NOT_ALLOWED = {"message": "405: Method Not Allowed", "code": 0}
WRONG_CHANNEL_TYPE = {"message": "Cannot execute action on this channel type", "code": 50024}

TRUE_VALUES = frozenset({"true", "True", "1"})
FALSE_VALUES = frozenset({"false", "False", "0"})


class ApiError(Exception):
    """Raised by a route to answer with a status and a JSON body."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        """Keep the status and body for the dispatcher."""
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = dict(body)


def invalid_form(errors: dict[str, Any]) -> ApiError:
    """400 / 50035 with an `errors` tree."""
    return ApiError(400, {"code": 50035, "errors": errors, "message": "Invalid Form Body"})


def leaf(code: str, message: str) -> dict[str, Any]:
    """One `_errors` leaf."""
    return {"_errors": [{"code": code, "message": message}]}


class Query:
    """Typed access to query parameters; collects every problem, then raises once."""

    def __init__(self, params: Mapping[str, str]) -> None:
        """`params`: the last value of each query key."""
        self.params = params
        self.errors: dict[str, Any] = {}

    def has(self, name: str) -> bool:
        """Whether the parameter was sent at all."""
        return name in self.params

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """An int within [low, high] (Discord's NUMBER_TYPE_* errors otherwise)."""
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.errors[name] = leaf("NUMBER_TYPE_COERCE", f'Value "{raw}" is not int.')
            return default
        if value < low:
            message = f"int value should be greater than or equal to {low}."
            self.errors[name] = leaf("NUMBER_TYPE_MIN", message)
        elif value > high:
            message = f"int value should be less than or equal to {high}."
            self.errors[name] = leaf("NUMBER_TYPE_MAX", message)
        return value

    def snowflake(self, name: str) -> int | None:
        """A snowflake cursor (decimal, 0..2^63-1), or None when absent."""
        raw = self.params.get(name)
        if raw is None:
            return None
        if not raw.isdigit():
            self.errors[name] = leaf("NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.')
            return None
        value = int(raw)
        if value > MAX_SNOWFLAKE:
            message = f"snowflake value should be less than or equal to {MAX_SNOWFLAKE}."
            self.errors[name] = leaf("NUMBER_TYPE_MAX", message)
            return None
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        """`true/True/1` or `false/False/0` (https://discord.com/developers/docs/reference#boolean-query-strings)."""
        raw = self.params.get(name)
        if raw is None:
            return default
        if raw in TRUE_VALUES:
            return True
        if raw in FALSE_VALUES:
            return False
        self.errors[name] = leaf("BASE_TYPE_BOOLEAN", "Value must be one of {False, True}.")
        return default

    def instant(self, name: str) -> int | None:
        """An ISO 8601 timestamp as unix ms, or None when absent."""
        raw = self.params.get(name)
        if raw is None:
            return None
        value = ms_from_iso(raw)
        if value is None:
            message = f'Could not interpret "{raw}" as a date or time.'
            self.errors[name] = leaf("DATE_TYPE_PARSE", message)
        return value

    def exclusive(self, *names: str) -> None:
        """At most one of these may be sent (e.g. before/after/around on messages)."""
        sent = [n for n in names if n in self.params]
        if len(sent) > 1:
            listed = ", ".join(names[:-1]) + f" and {names[-1]}"
            message = f"Only one of {listed} may be set."
            self.errors.setdefault("_errors", []).append(
                {"code": "BASE_TYPE_BAD_VALUE", "message": message}
            )

    def check(self) -> None:
        """Raise 400 / 50035 if anything was wrong."""
        if self.errors:
            raise invalid_form(self.errors)
