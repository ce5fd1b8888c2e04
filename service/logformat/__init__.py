"""The log format, defined once: canonical bytes, record, payload digest, leaf and chain
hashes, genesis, and which records only the server writes.

Pure: it imports neither the database nor the web framework nor the rule parser (a test
checks this in a fresh interpreter), so the server, `custody verify`, replay, the Merkle
tree and the offline bundle verifier all hash exactly the same way, and a third party
can audit with this package alone.
"""

from service.logformat.canonical import (
    MAX_SAFE_INTEGER,
    NotIJSON,
    canonical_json,
)
from service.logformat.policy import is_server_only_action, refusal
from service.logformat.record import (
    ERASE_ACTION,
    GENESIS_PREV_HASH,
    KNOWN_VERSIONS,
    RECORD_COLUMNS,
    RECORD_VERSION,
    SERVER_ORIGIN,
    SERVER_SOURCE,
    UPGRADE_ACTION,
    canonical_record,
    chain_hash,
    format_time,
    is_server_record,
    join_payload,
    leaf_hash,
    linked_hash,
    parse_time,
    payload_body,
    payload_digest,
    record_builder,
    record_from_row,
    record_template,
    shape_problem,
)

__all__ = [
    "ERASE_ACTION",
    "GENESIS_PREV_HASH",
    "KNOWN_VERSIONS",
    "MAX_SAFE_INTEGER",
    "RECORD_COLUMNS",
    "RECORD_VERSION",
    "SERVER_ORIGIN",
    "SERVER_SOURCE",
    "UPGRADE_ACTION",
    "NotIJSON",
    "canonical_json",
    "canonical_record",
    "chain_hash",
    "format_time",
    "is_server_only_action",
    "is_server_record",
    "join_payload",
    "leaf_hash",
    "linked_hash",
    "parse_time",
    "payload_body",
    "payload_digest",
    "record_builder",
    "record_from_row",
    "record_template",
    "refusal",
    "shape_problem",
]
