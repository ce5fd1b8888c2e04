"""An event's stored time: the fast path for `...Z` strings agrees with pydantic's parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from service.auditlog.prepare import event_time
from service.auditlog.schemas import Outcome, OutcomeName, Timestamp
from service.logformat import format_time

_FULL = TypeAdapter(Timestamp)


def _reference(value: str) -> str | None:
    """What ingest stored before the fast path: pydantic's datetime, formatted."""
    try:
        when = _FULL.validate_python(value)
    except ValidationError:
        return None
    return None if when.year < 1000 else format_time(when)


def _ours(value: str) -> str | None:
    try:
        return event_time(value)
    except ValueError:
        return None


moments = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@given(moments, st.integers(0, 6), st.sampled_from(["Z", "z", "+00:00", "+05:30", "-0800"]))
def test_every_rfc3339_form_is_stored_as_pydantic_read_it(
    moment: datetime, digits: int, offset: str
) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{moment.microsecond:06d}"[:digits]
    text += offset
    assert _ours(text) == _reference(text)


@given(
    st.from_regex(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z\Z", fullmatch=True)
)
def test_impossible_calendar_dates_are_refused_like_before(text: str) -> None:
    # Random digits: most are not real dates (month 47, hour 31), and must stay refused.
    assert _ours(text) == _reference(text)


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("2026-11-30T12:00:00Z", "2026-11-30T12:00:00.000000Z"),
        ("2026-11-30T12:00:00.1Z", "2026-11-30T12:00:00.100000Z"),
        ("2026-11-30T12:00:00.123456Z", "2026-11-30T12:00:00.123456Z"),
        ("2026-11-30T13:00:00+01:00", "2026-11-30T12:00:00.000000Z"),
        ("2026-11-30 12:00:00z", "2026-11-30T12:00:00.000000Z"),
    ],
)
def test_times_are_stored_in_one_fixed_width_utc_form(text: str, stored: str) -> None:
    assert event_time(text) == stored


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-02-30T12:00:00Z", "day value is outside expected range"),
        ("2026-11-30T12:00:00", "RFC 3339 timestamp string with a time zone"),
        ("yesterday", "RFC 3339 timestamp string with a time zone"),
        ("0999-11-30T12:00:00Z", "year must be 1000 or later"),
    ],
)
def test_bad_times_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        event_time(text)


def test_outcome_names_are_the_outcomes() -> None:
    assert set(OutcomeName.__args__) == {o.value for o in Outcome}  # type: ignore[attr-defined]


def test_offsets_move_the_time_to_utc() -> None:
    local = datetime(2026, 11, 30, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert event_time(local.isoformat()) == "2026-12-01T04:30:00.000000Z"
