"""Time parsing, action names, I-JSON safety and content ids."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.adapters import AdapterError, format_time, normalize_time, parse_time
from service.adapters.common import content_id, derived_action, ijson_safe, snake


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-10-17T20:11:24Z", "2024-10-17T20:11:24.000Z"),  # CloudTrail
        ("2025-05-06T05:52:00.360468025Z", "2025-05-06T05:52:00.360Z"),  # GCP, ns
        ("2024-07-02T06:14:56.2371877Z", "2024-07-02T06:14:56.237Z"),  # Azure, 7 digits
        ("2025-01-21 17:49:47.000000000", "2025-01-21T17:49:47.000Z"),  # Panther
        ("2022-09-27 17:09:18", "2022-09-27T17:09:18.000Z"),  # Panther, no fraction
        ("2025-01-21T17:39:10.379877250+02:00", "2025-01-21T15:39:10.379Z"),  # offset
        ("2026-11-30T12:00:00.123Z", "2026-11-30T12:00:00.123Z"),
        (1720804090, "2024-07-12T17:08:10.000Z"),  # OpenAI effective_at
        (1720804090.5, "2024-07-12T17:08:10.500Z"),
    ],
)
def test_time_formats(value: str | int | float, expected: str) -> None:
    assert normalize_time(value) == expected


@pytest.mark.parametrize(
    "value",
    ["Aug 1, 2024 1:33:28 PM", "2024-13-01T00:00:00Z", "", None, True, float("inf"), [1]],
)
def test_bad_times_are_refused(value: object) -> None:
    with pytest.raises(AdapterError):
        parse_time(value)


@given(st.datetimes(min_value=datetime(1970, 1, 2), timezones=st.just(UTC)))
def test_time_round_trip_and_fixed_width(moment: datetime) -> None:
    text = format_time(moment)
    assert len(text) == len("2026-11-30T12:00:00.123Z")
    assert parse_time(text) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
    ),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
)
def test_fixed_width_keeps_string_order_equal_to_time_order(
    moment: datetime, delta: timedelta
) -> None:
    assert format_time(moment) <= format_time(moment + delta)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("GetFoundationModelAvailability", "get_foundation_model_availability"),
        ("DescribeDBInstances", "describe_db_instances"),
        ("Create_Thread", "create_thread"),
        ("ChatCompletions_Create", "chat_completions_create"),
        ("InvokeModelWithResponseStream", "invoke_model_with_response_stream"),
        ("ListTagsForResource", "list_tags_for_resource"),
    ],
)
def test_snake(name: str, expected: str) -> None:
    assert snake(name) == expected


@given(st.lists(st.text(max_size=20), min_size=1, max_size=4))
def test_derived_actions_always_match_the_pattern(parts: list[str]) -> None:
    assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)*", derived_action(*parts))


def test_ijson_safe() -> None:
    value = {"big": 638515262815394150, "ok": 2**53 - 1, "neg": -(2**60), "f": 1.5, "b": True}
    assert ijson_safe(value) == {
        "big": "638515262815394150",
        "ok": 2**53 - 1,
        "neg": str(-(2**60)),
        "f": 1.5,
        "b": True,
    }
    with pytest.raises(AdapterError, match=r"raw\.x\[1\]: non-finite"):
        ijson_safe({"x": [1, float("-inf")]})


def test_content_id_ignores_key_order() -> None:
    assert content_id({"a": 1, "b": [2, 3]}) == content_id({"b": [2, 3], "a": 1})
    assert content_id({"a": 1}) != content_id({"a": 2})
    assert content_id({"a": 1}).startswith("sha256:")
