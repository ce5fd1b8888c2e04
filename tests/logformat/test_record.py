"""The record format, pinned to values computed by hand (hashlib and the rfc8785 package),
not by the code under test."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import rfc8785

from service.logformat import (
    GENESIS_PREV_HASH,
    NotIJSON,
    canonical_json,
    canonical_record,
    chain_hash,
    is_server_record,
    leaf_hash,
    payload_body,
    payload_digest,
    record_from_row,
    shape_problem,
)


def _row(**overrides: Any) -> Any:
    class Row:
        pass

    row = Row()
    values = {
        "v": 2, "seq": 1, "received_at": "2026-11-30T12:00:00.000000Z", "event_id": "e1",
        "time": "2026-11-30T12:00:00.123000Z", "source": "gw", "action": "model.invoke",
        "outcome": "success", "actor_type": "user", "actor_id": "alice", "actor_ip": None,
        "actor_user_agent": None, "resource_type": None, "resource_id": None,
        "resource_version": None, "request_id": None, "payload_digest": "ab" * 32,
        "prev_hash": GENESIS_PREV_HASH, "origin": "tok_1",
    }  # fmt: skip
    values.update(overrides)
    row.__dict__.update(values)
    return row


def test_canonical_is_jcs() -> None:
    # Sorted keys, no whitespace, integral floats without ".0", raw UTF-8.
    assert canonical_json({"b": 100.0, "a": [1, None], "é": "ü"}) == (
        '{"a":[1,null],"b":100,"é":"ü"}'.encode()
    )
    with pytest.raises(NotIJSON):
        canonical_json({"n": 2**53})


def test_genesis_chain_and_leaf_hashes() -> None:
    body = canonical_record({"seq": 1, "prev_hash": GENESIS_PREV_HASH})
    assert chain_hash(GENESIS_PREV_HASH, body) == hashlib.sha256(bytes(32) + body).hexdigest()
    assert leaf_hash(body) == hashlib.sha256(b"\x00" + body).digest()


def test_payload_digest_covers_salt_and_both_fields() -> None:
    salt = bytes(range(16))
    expected = hashlib.sha256(salt + b'{"attributes":{"k":1},"raw":null}').hexdigest()
    assert payload_digest(salt, payload_body({"k": 1}, None)) == expected
    assert payload_digest(bytes(16), payload_body({"k": 1}, None)) != expected


def test_v2_records_hash_their_origin_and_v1_records_hash_as_before() -> None:
    v2 = record_from_row(_row())
    assert v2["origin"] == "tok_1" and v2["v"] == 2
    assert canonical_record(v2) == rfc8785.dumps(v2)
    v1 = record_from_row(_row(v=1, origin=None))
    assert "origin" not in v1  # exactly the keys a v1 log hashed
    assert set(v2) - set(v1) == {"origin"}
    # Origin is inside the hash: another token id is another record.
    other = record_from_row(_row(origin="tok_2"))
    assert chain_hash(GENESIS_PREV_HASH, canonical_record(other)) != chain_hash(
        GENESIS_PREV_HASH, canonical_record(v2)
    )


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"v": 2, "source": "gw", "origin": "tok_1"}, None),
        ({"v": 2, "source": "custody", "origin": "server"}, None),
        ({"v": 1, "source": "custody"}, None),
        ({"v": 3, "source": "gw", "origin": "tok_1"}, "unknown record version 3"),
        ({"v": 2, "source": "gw"}, "a v2 record needs an origin"),
        ({"v": 1, "source": "gw", "origin": "tok_1"}, "a v1 record carries an origin"),
        ({"v": 2, "source": "custody", "origin": "tok_1"}, "does not fit source"),
        ({"v": 2, "source": "gw", "origin": "server"}, "does not fit source"),
    ],
)
def test_shape(record: dict[str, Any], problem: str | None) -> None:
    found = shape_problem(record)
    assert found == problem if problem is None else problem in (found or "")


@pytest.mark.parametrize(
    ("record", "server"),
    [
        ({"v": 2, "source": "custody", "origin": "server"}, True),
        ({"v": 2, "source": "custody", "origin": "tok_1"}, False),
        ({"v": 1, "source": "custody"}, True),  # before origin existed, source is all there is
        ({"v": 1, "source": "gw"}, False),
    ],
)
def test_server_records(record: dict[str, Any], server: bool) -> None:
    assert is_server_record(record) is server
