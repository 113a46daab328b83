"""`monitor --since`: a duration back from now, or a moment (so a script can name the moment
a stream started instead of sleeping until a duration fits it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bulkhead.operations.errors import BadInput
from bulkhead.operations.monitor import parse_since

NOW = datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("text", "back_s"), [("90", 90), ("90s", 90), ("5m", 300), ("1h", 3600)])
def test_a_duration_counts_back_from_now(text: str, back_s: float) -> None:
    assert parse_since(text, NOW) == NOW - back_s


def test_a_moment_is_utc_unless_it_names_a_zone() -> None:
    assert parse_since("2026-12-07T09:59:30", NOW) == NOW - 30
    assert parse_since("2026-12-07T09:59:30+00:00", NOW) == NOW - 30
    paris = timezone(timedelta(hours=1))
    assert parse_since(datetime(2026, 12, 7, 10, 59, 30, tzinfo=paris).isoformat(), NOW) == NOW - 30


@pytest.mark.parametrize("text", ["soon", "5 minutes", "", "2026-13-07"])
def test_anything_else_is_a_clear_error(text: str) -> None:
    with pytest.raises(BadInput, match="neither a duration"):
        parse_since(text, NOW)


def test_digits_alone_are_seconds_never_a_date() -> None:
    assert parse_since("12000101", NOW) == NOW - 12000101
