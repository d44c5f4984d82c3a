"""Snowflake arithmetic and start_date parsing."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_discord.snowflake import (
    after_cursor_for,
    datetime_from_snowflake,
    is_snowflake,
    lookback_cursor,
    max_snowflake,
    parse_duration,
    parse_start_date,
    snowflake_from_datetime,
)

UTC = dt.timezone.utc


def test_reference_worked_example() -> None:
    # 175928847299117063 is 2016-04-30 11:18:25.796 UTC in the example of
    # https://discord.com/developers/docs/reference#convert-snowflake-to-datetime
    assert datetime_from_snowflake("175928847299117063") == dt.datetime(
        2016, 4, 30, 11, 18, 25, 796000, tzinfo=UTC
    )


def test_date_to_snowflake_and_inclusive_after_cursor() -> None:
    moment = dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert snowflake_from_datetime(moment) == 1191168914227200000
    assert after_cursor_for(moment) == 1191168914227199999


def test_before_the_discord_epoch_clamps_to_zero() -> None:
    assert after_cursor_for(dt.datetime(2010, 1, 1, tzinfo=UTC)) == 0


def test_max_compares_as_integers_across_the_digit_boundary() -> None:
    eighteen, nineteen = "999999999999999998", "1000000000000001643"
    assert eighteen > nineteen  # the string compare the tap must never use
    assert max_snowflake(eighteen, nineteen) == nineteen
    assert max_snowflake(None, nineteen) == nineteen


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("123", True),
        (123, True),
        ("0", True),
        ("-1", False),
        ("12a", False),
        ("", False),
        (True, False),
        ("9223372036854775808", False),
        ("1" * 21, False),
    ],
)
def test_is_snowflake(value: object, ok: bool) -> None:
    assert is_snowflake(value) is ok


def test_start_date_forms() -> None:
    now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_start_date("2024-01-01") == dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_start_date("2024-01-01T02:00:00+02:00") == dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_start_date("2024-01-01T00:00:00") == dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert parse_start_date("P30D", now=now) == dt.datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    assert parse_start_date("PT6H", now=now) == dt.datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize("value", ["yesterday", "2024-13-01", "", "P", "30 days"])
def test_bad_start_dates(value: str) -> None:
    with pytest.raises(ValueError, match=r"ISO 8601|empty"):
        parse_start_date(value)


def test_durations() -> None:
    assert parse_duration("P7D") == dt.timedelta(days=7)
    with pytest.raises(ValueError, match="duration"):
        parse_duration("2024-01-01")


def test_lookback_cursor_reads_the_window_before_the_bookmark_but_not_before_start() -> None:
    bookmark = 1191168914227200000  # 2024-01-01T00:00:00Z
    day = dt.timedelta(days=1)
    cursor = lookback_cursor(bookmark, day)
    assert cursor == after_cursor_for(datetime_from_snowflake(bookmark) - day)
    assert cursor < bookmark
    assert lookback_cursor(bookmark, None) == bookmark
    assert lookback_cursor(bookmark, dt.timedelta(0)) == bookmark
    assert lookback_cursor(bookmark, day, floor=cursor + 10) == cursor + 10
    assert lookback_cursor(bookmark, day, floor=bookmark + 10) == bookmark, "never past it"
    assert lookback_cursor(5, day) == 0
