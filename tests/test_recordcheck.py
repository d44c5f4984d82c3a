"""The per-record schema check: what it repairs, what it refuses, and that it is cheap."""

from __future__ import annotations

import logging

import pytest

from tap_discord.recordcheck import MalformedRecordError, RecordCheck

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": ["string"]},
        "count": {"type": ["integer", "null"]},
        "flag": {"type": ["boolean"]},
        "note": {"type": ["string"]},
        "anything": {},
        "guild_id": {"type": ["string"], "description": "Added by the tap: the guild."},
    },
    "required": ["id", "flag", "guild_id"],
}


@pytest.fixture
def check(caplog) -> RecordCheck:
    caplog.set_level(logging.WARNING)
    return RecordCheck("things", SCHEMA, ("id",), logging.getLogger("test.recordcheck"))


def test_a_valid_record_is_untouched(check, caplog) -> None:
    row = {"id": "1", "count": 3, "flag": True, "note": "n", "anything": [1, {"a": None}]}
    assert check.check(dict(row), "/things") == row
    assert not caplog.records


def test_wrong_types_become_null_or_absent_with_one_warning_per_field(check, caplog) -> None:
    first = check.check({"id": "1", "count": "3", "flag": False, "note": 5}, "/things")
    assert first == {"id": "1", "count": None, "flag": False}
    second = check.check({"id": "2", "count": True, "flag": True}, "/things")
    assert second["count"] is None, "a boolean is not an integer"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all("'1'" in line and "/things" in line for line in lines)


def test_unknown_fields_are_kept_with_one_warning(check, caplog) -> None:
    for number in range(3):
        row = check.check({"id": str(number), "flag": True, "shiny": number}, "/things")
        assert row["shiny"] == number
    (line,) = [r.getMessage() for r in caplog.records]
    assert "shiny" in line and "things" in line


@pytest.mark.parametrize(
    ("row", "named"),
    [
        ({"flag": True}, "without an id"),
        ({"id": 7, "flag": True}, "id is 7 (int)"),
        ({"id": "", "flag": True}, "id is ''"),
        ({"id": "1", "flag": "yes"}, "flag is 'yes' (str)"),
        ({"id": "1"}, "flag is missing"),
        (["not", "an", "object"], "is a list"),
    ],
)
def test_a_record_that_cannot_be_valid_is_one_error_naming_it(check, row, named) -> None:
    with pytest.raises(MalformedRecordError) as caught:
        check.check(row, "/channels/5/things")
    message = str(caught.value)
    assert named in message and "things:" in message and "/channels/5/things" in message
    assert "\n" not in message


def test_fields_the_tap_adds_are_not_required_from_discord(check) -> None:
    assert check.check({"id": "1", "flag": True}, "/things") == {"id": "1", "flag": True}


def test_a_shape_seen_valid_still_catches_a_changed_type_or_a_bad_id(check, caplog) -> None:
    good = {"id": "1", "count": 3, "flag": True, "note": "n"}
    for _ in range(2):  # the second time, the shape is known
        assert check.check(dict(good), "/things") == good
    assert check.check({**good, "count": "3"}, "/things")["count"] is None
    assert check.check({**good, "count": 4.5}, "/things")["count"] is None
    with pytest.raises(MalformedRecordError, match="id is ''"):
        check.check({**good, "id": ""}, "/things")
    reordered = {"flag": True, "note": 7, "id": "2", "count": 1}
    assert "note" not in check.check(reordered, "/things")
    assert len(caplog.records) == 2  # count, then note: once per field


def test_a_tombstone_passes_without_the_fields_a_live_record_has() -> None:
    import datetime as dt

    from tap_discord import schemas
    from tap_discord.tombstones import tombstone

    check = RecordCheck("messages", schemas.MESSAGES_SCHEMA, ("id",), logging.getLogger("t"))
    key = {"id": "1300000000000000000", "channel_id": "2", "guild_id": "3"}
    dead = tombstone(key, dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc))
    assert check.check(dict(dead), "/channels/2/messages") == dead
    with pytest.raises(MalformedRecordError):
        check.check({"id": "1300000000000000001", "channel_id": "2"}, "/channels/2/messages")
