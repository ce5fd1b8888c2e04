"""The record that is hashed into the chain and the Merkle tree. Changing it breaks chains.

record (v2) = {"v", "seq", "received_at", "id", "time", "source", "action", "outcome",
               "actor", "resource", "request_id", "payload_digest", "prev_hash", "origin"}
record (v1) = the same without "origin" (logs written before origin existed)
hash        = hex(SHA-256(bytes(prev_hash) || JCS(record)))
leaf        = SHA-256(0x00 || JCS(record))                 (RFC 9162; leaf index = seq - 1)
payload_digest = hex(SHA-256(salt || JCS({"attributes": ..., "raw": ...})))
genesis prev_hash = 64 hex zeros (32 zero bytes)

``origin`` says who put the record in the log: ``"server"`` for what Custody writes
itself, otherwise the id of the ingest token that submitted it. Each record carries its
own ``v``, so a log that was upgraded keeps verifying its v1 prefix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from service.logformat.canonical import canonical_json

RECORD_VERSION = 2
KNOWN_VERSIONS = (1, 2)
GENESIS_PREV_HASH = "0" * 64
SERVER_ORIGIN = "server"
SERVER_SOURCE = "custody"
#: The server record that marks where a log moved from v1 to v2 (see the migration).
UPGRADE_ACTION = "log.schema.upgrade"
ERASE_ACTION = "event.erase"


def format_time(value: datetime) -> str:
    """Fixed-width UTC text, so that text order is time order on every database."""
    # isoformat is several times faster than strftime and always pads the year.
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def canonical_record(record: dict[str, Any]) -> bytes:
    """JCS bytes of a record built here (fixed ASCII keys; strings, ints and nulls only),
    for which orjson's sorted output is exactly JCS: no normalization walk needed.
    Records of unknown provenance (a bundle) go through ``canonical_json`` instead."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest()


# The v2 keys in JCS order, split around the values only the chain head decides.
_BEFORE_PREV = ("action", "actor", "id", "origin", "outcome", "payload_digest")
_AFTER_RECEIVED = ("request_id", "resource")
_AFTER_SEQ = ("source", "time", "v")
_SORTED = orjson.OPT_SORT_KEYS


def record_template(fields: dict[str, Any]) -> tuple[bytes, bytes, bytes]:
    """JCS of a v2 record built here, cut around ``prev_hash``, ``received_at`` and
    ``seq`` (see ``linked_hash``), so appenders can build it before taking the chain-head
    lock. ``fields`` holds every other v2 key."""
    a = orjson.dumps({k: fields[k] for k in _BEFORE_PREV}, option=_SORTED)
    b = orjson.dumps({k: fields[k] for k in _AFTER_RECEIVED}, option=_SORTED)
    c = orjson.dumps({k: fields[k] for k in _AFTER_SEQ}, option=_SORTED)
    return a[:-1] + b',"prev_hash":"', b'",' + b[1:-1] + b',"seq":', b"," + c[1:]


def linked_hash(
    prev_hash: str, seq: int, received_at: str, template: tuple[bytes, bytes, bytes]
) -> str:
    """``chain_hash(prev_hash, canonical_record(record))`` from a ``record_template``."""
    a, b, c = template
    canonical = b"".join(
        (a, prev_hash.encode(), b'","received_at":"', received_at.encode(), b, str(seq).encode(), c)
    )
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest()


def leaf_hash(canonical: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + canonical).digest()


def join_payload(attributes_jcs: bytes, raw_jcs: bytes) -> bytes:
    # Keys in JCS order ("attributes" < "raw"), so the concatenation is itself JCS.
    return b'{"attributes":' + attributes_jcs + b',"raw":' + raw_jcs + b"}"


def payload_body(attributes: Any, raw: Any) -> bytes:
    """JCS of ``{"attributes": attributes, "raw": raw}``; raises NotIJSON."""
    return join_payload(canonical_json(attributes, "attributes"), canonical_json(raw, "raw"))


def payload_digest(salt: bytes, body: bytes) -> str:
    return hashlib.sha256(salt + body).hexdigest()


def is_server_record(record: dict[str, Any]) -> bool:
    """Whether Custody itself wrote the record. A v1 record has no origin, and before v2
    ingest accepted ``source: custody`` from tokens, so for v1 the source is all there is."""
    if record.get("v") == 1:
        return record.get("source") == SERVER_SOURCE
    return record.get("origin") == SERVER_ORIGIN and record.get("source") == SERVER_SOURCE


def shape_problem(record: dict[str, Any]) -> str | None:
    """What makes ``record`` not a well-formed record of a known version, or None."""
    v = record.get("v")
    if type(v) is not int or v not in KNOWN_VERSIONS:
        return f"unknown record version {v!r}"
    if v == 1:
        return "a v1 record carries an origin" if "origin" in record else None
    origin = record.get("origin")
    if not isinstance(origin, str) or not origin:
        return "a v2 record needs an origin"
    if (origin == SERVER_ORIGIN) != (record.get("source") == SERVER_SOURCE):
        return f"origin {origin!r} does not fit source {record.get('source')!r}"
    return None


#: The `log_records` columns a record is rebuilt from.
RECORD_COLUMNS = (
    "v", "seq", "received_at", "event_id", "time", "source", "action", "outcome",
    "actor_type", "actor_id", "actor_ip", "actor_user_agent",
    "resource_type", "resource_id", "resource_version",
    "request_id", "payload_digest", "prev_hash", "origin",
)  # fmt: skip


def record_from_row(row: Any) -> dict[str, Any]:
    """Rebuild the hashed record from a `log_records` row (attribute access)."""
    return record_builder(RECORD_COLUMNS)(tuple(getattr(row, c) for c in RECORD_COLUMNS))


def record_builder(keys: Sequence[str]) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """Build records from rows read by position, for loops over many rows.

    Column positions are resolved once from the result's `keys()`: attribute access on a
    SQLAlchemy Row costs about 1 us, indexing about 50 ns, and a record reads 19 columns.
    """
    pos = {name: i for i, name in enumerate(keys)}
    (v, seq, received_at, event_id, time, source, action, outcome, a_type, a_id, a_ip, a_ua,
     r_type, r_id, r_version, request_id, digest, prev, origin) = [
        pos[c] for c in RECORD_COLUMNS
    ]  # fmt: skip

    def build(row: Sequence[Any]) -> dict[str, Any]:
        # Plain ifs, not comprehensions over pairs: this runs once per record in verify
        # and replay, where building the pairs cost more than the hashing.
        actor: dict[str, Any] = {}
        if (x := row[a_type]) is not None:
            actor["type"] = x
        if (x := row[a_id]) is not None:
            actor["id"] = x
        if (x := row[a_ip]) is not None:
            actor["ip"] = x
        if (x := row[a_ua]) is not None:
            actor["user_agent"] = x
        resource: dict[str, Any] = {}
        if (x := row[r_type]) is not None:
            resource["type"] = x
        if (x := row[r_id]) is not None:
            resource["id"] = x
        if (x := row[r_version]) is not None:
            resource["version"] = x
        version = row[v]
        record = {
            "v": version,
            "seq": row[seq],
            "received_at": row[received_at],
            "id": row[event_id],
            "time": row[time],
            "source": row[source],
            "action": row[action],
            "outcome": row[outcome],
            "actor": actor or None,
            "resource": resource or None,
            "request_id": row[request_id],
            "payload_digest": row[digest],
            "prev_hash": row[prev],
        }
        if version != 1:
            record["origin"] = row[origin]
        return record

    return build
