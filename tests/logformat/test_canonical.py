"""The bytes we hash are exactly RFC 8785's, for every value ingest accepts."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from service.logformat import chain_hash, format_time, linked_hash, record_template
from service.logformat.canonical import MAX_SAFE_INTEGER, NotIJSON, canonical_json, canonical_record

safe_ints = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
text = st.text(st.characters(exclude_categories=["Cs"]))  # JSON forbids lone surrogates
scalars = st.none() | st.booleans() | safe_ints | finite_floats | text
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=600, deadline=None)
@given(json_values)
def test_fast_path_equals_rfc8785(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "v": st.sampled_from([1, 2]),
            "seq": st.integers(min_value=1, max_value=MAX_SAFE_INTEGER),
            "source": text,
            "action": st.from_regex(r"[a-z0-9_]+(\.[a-z0-9_]+)*", fullmatch=True),
            "actor": st.none() | st.dictionaries(st.sampled_from(["type", "id", "ip"]), text),
            "id": st.none() | text,
        },
        optional={"origin": text},
    )
)
def test_record_bytes_equal_rfc8785(record: dict[str, Any]) -> None:
    assert canonical_record(record) == rfc8785.dumps(record)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"n": MAX_SAFE_INTEGER + 1}, "$.n"),
        ({"n": [-(2**63)]}, "$.n[0]"),
        ({"x": math.inf}, "$.x"),
        ({"x": math.nan}, "$.x"),
    ],
)
def test_values_jcs_refuses_are_rejected_with_their_path(value: Any, where: str) -> None:
    with pytest.raises(NotIJSON) as info:
        canonical_json(value)
    assert info.value.path == where


def test_integral_floats_hash_like_integers() -> None:
    assert canonical_json({"a": 100.0}) == b'{"a":100}' == rfc8785.dumps({"a": 100.0})


@settings(max_examples=3000, deadline=None)
@given(
    st.floats(allow_nan=False, allow_infinity=False) | st.floats(min_value=-1e-3, max_value=1e-3)
)
def test_every_float_canonicalizes_like_rfc8785(value: float) -> None:
    assert canonical_json([value]) == rfc8785.dumps([value])


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "v": st.just(2),
            "id": st.none() | text,
            "time": text,
            "source": text,
            "action": text,
            "outcome": text,
            "actor": st.none() | st.dictionaries(st.sampled_from(["type", "id", "ip"]), text),
            "resource": st.none() | st.dictionaries(st.sampled_from(["type", "id"]), text),
            "request_id": st.none() | text,
            "payload_digest": st.text("0123456789abcdef", min_size=64, max_size=64),
            "origin": text,
        }
    ),
    st.integers(min_value=1, max_value=MAX_SAFE_INTEGER),
    st.text("0123456789abcdef", min_size=64, max_size=64),
    st.datetimes(timezones=st.just(UTC)),
)
def test_record_template_links_exactly_like_the_whole_record(
    fields: dict[str, Any], seq: int, prev: str, received: datetime
) -> None:
    """Ingest hashes records from a template cut before the head lock; it must give the
    very hash that verification recomputes from the whole record."""
    received_at = format_time(received)
    record = {**fields, "seq": seq, "prev_hash": prev, "received_at": received_at}
    expected = hashlib.sha256(bytes.fromhex(prev) + rfc8785.dumps(record)).hexdigest()
    assert linked_hash(prev, seq, received_at, record_template(fields)) == expected
    assert chain_hash(prev, canonical_record(record)) == expected
