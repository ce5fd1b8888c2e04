"""Evidence bundles: round trip, and each kind of tampering caught with its reason."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.evidence.bundle import (
    BundleRecord,
    BundleReport,
    InclusionProof,
    Payload,
    verify_bundle,
    write_bundle,
)
from service.evidence.incremental import IncrementalTree
from service.evidence.keys import key_fingerprint, public_key_pem
from service.evidence.merkle import MemoryNodeStore, inclusion_proof
from service.evidence.signing import sign_checkpoint
from service.logformat import GENESIS_PREV_HASH, chain_hash, payload_body
from service.logformat import canonical_json as canonical
from service.logformat import leaf_hash as record_leaf_hash
from service.logformat import payload_digest as digest_of_body


def payload_digest(salt: bytes, attributes: Any, raw: Any) -> str:
    return digest_of_body(salt, payload_body(attributes, raw))


LOG_SIZE = 20
EXPORTED = [1, 2, 3, 4, 5, 9, 12, 13, 14, 20]
ERASED = {4}  # payload erased: digest carried, nothing to recheck
Members = dict[str, bytes]


def make_log() -> tuple[list[BundleRecord], MemoryNodeStore, IncrementalTree]:
    rows: list[BundleRecord] = []
    store, tree = MemoryNodeStore(), IncrementalTree()
    prev = GENESIS_PREV_HASH
    for seq in range(1, LOG_SIZE + 1):
        salt = os.urandom(16)
        payload = Payload(
            attributes={"bytes": 4294967296, "ratio": 0.1, "whole": 100.0, "note": "é"},
            raw=None if seq % 2 else {"eventName": "InvokeModel"},
            salt=salt,
        )
        record: dict[str, Any] = {
            "v": 1,
            "seq": seq,
            "received_at": f"2026-11-30T12:00:{seq:02d}.000000Z",
            "id": f"evt-{seq}" if seq % 3 else None,
            "time": "2026-11-30T12:00:00.123Z",
            "source": "inference-gateway",
            "action": "model.weights.download",
            "outcome": "success",
            "actor": {"type": "user", "id": "alice@example.com"},
            "resource": {"type": "model", "id": "llm-prod"},
            "request_id": None,
            "payload_digest": payload_digest(salt, payload.attributes, payload.raw),
            "prev_hash": prev,
        }
        body = canonical(record)
        prev = chain_hash(record["prev_hash"], body)
        rows.append(BundleRecord(record=record, hash=prev, payload=payload))
        store.put_many(tree.append([record_leaf_hash(body)]))
    return rows, store, tree


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def bundle(key: Ed25519PrivateKey) -> bytes:
    rows, store, tree = make_log()
    checkpoint = sign_checkpoint(key, tree.size, tree.root(), datetime(2026, 12, 1, tzinfo=UTC))
    selected = [rows[seq - 1] for seq in EXPORTED]
    selected = [
        BundleRecord(r.record, r.hash, None if r.seq in ERASED else r.payload) for r in selected
    ]
    proofs = [
        InclusionProof(r.seq - 1, tree.size, inclusion_proof(r.seq - 1, tree.size, store))
        for r in selected
    ]
    out = io.BytesIO()
    manifest = write_bundle(
        out,
        selected,
        proofs,
        checkpoint,
        public_key_pem(key),
        {"actor": "alice@example.com"},
        anchor={"kind": "none"},
    )
    assert manifest["counts"] == {"records": 10, "payloads": 9, "proofs": 10}
    return out.getvalue()


def members(data: bytes) -> Members:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def pack(files: Members) -> io.BytesIO:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    out.seek(0)
    return out


def edit_lines(
    files: Members, name: str, edit: Callable[[list[dict[str, Any]]], None]
) -> io.BytesIO:
    lines = [json.loads(line) for line in files[name].splitlines()]
    edit(lines)
    files[name] = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    return pack(files)


def verify(source: io.BytesIO | bytes, key: Ed25519PrivateKey) -> BundleReport:
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    return verify_bundle(source, public_key_pem(key))


def test_roundtrip_verifies(bundle: bytes, key: Ed25519PrivateKey) -> None:
    report = verify(bundle, key)
    assert report.failure is None
    assert report.ok
    assert (report.records, report.proofs_checked, report.payloads_checked) == (10, 10, 9)
    assert report.chain_links_checked == 6  # 1-2, 2-3, 3-4, 4-5, 12-13, 13-14
    assert report.tree_size == LOG_SIZE
    assert report.key_id == key_fingerprint(key)
    files = members(bundle)
    assert set(files) == {
        "manifest.json",
        "checkpoint.json",
        "records.ndjson",
        "proofs.ndjson",
        "README.txt",
        "cosignatures.json",  # none here: no witness cosigned this checkpoint
    }
    assert json.loads(files["cosignatures.json"]) == []
    manifest = json.loads(files["manifest.json"])
    assert manifest["scope"] == {"actor": "alice@example.com"}
    assert manifest["seq_range"] == {"first": 1, "last": 20}
    assert manifest["checkpoint"] == json.loads(files["checkpoint.json"])


def test_verifies_from_a_path(bundle: bytes, key: Ed25519PrivateKey, tmp_path: Any) -> None:
    path = tmp_path / "evidence.zip"
    path.write_bytes(bundle)
    assert verify_bundle(path, public_key_pem(key).decode()).ok


def test_changed_record_field(bundle: bytes, key: Ed25519PrivateKey) -> None:
    def edit(lines: list[dict[str, Any]]) -> None:
        lines[6]["record"]["action"] = "model.read"

    report = verify(edit_lines(members(bundle), "records.ndjson", edit), key)
    assert not report.ok
    assert report.failure == "record seq 12: hash does not match its content"
    assert report.records == 6


def test_rehashed_record_fails_its_proof(bundle: bytes, key: Ed25519PrivateKey) -> None:
    def edit(lines: list[dict[str, Any]]) -> None:
        record = lines[6]["record"]
        record["outcome"] = "failure"
        lines[6]["hash"] = chain_hash(record["prev_hash"], canonical(record))

    report = verify(edit_lines(members(bundle), "records.ndjson", edit), key)
    assert report.failure == "record seq 12: inclusion proof does not lead to the checkpoint root"


def test_relinked_record_breaks_the_chain(bundle: bytes, key: Ed25519PrivateKey) -> None:
    def edit(lines: list[dict[str, Any]]) -> None:
        record = lines[7]["record"]
        record["prev_hash"] = "ab" * 32
        lines[7]["hash"] = chain_hash(record["prev_hash"], canonical(record))

    report = verify(edit_lines(members(bundle), "records.ndjson", edit), key)
    assert report.failure == "record seq 13: prev_hash does not link to record seq 12"


def test_changed_last_record_with_recomputed_hash_fails_its_proof(
    bundle: bytes, key: Ed25519PrivateKey
) -> None:
    def edit(lines: list[dict[str, Any]]) -> None:
        record = lines[-1]["record"]
        record["outcome"] = "failure"
        lines[-1]["hash"] = chain_hash(record["prev_hash"], canonical(record))

    report = verify(edit_lines(members(bundle), "records.ndjson", edit), key)
    assert report.failure == "record seq 20: inclusion proof does not lead to the checkpoint root"


def test_swapped_proofs(bundle: bytes, key: Ed25519PrivateKey) -> None:
    def swap_paths(lines: list[dict[str, Any]]) -> None:
        lines[1]["path"], lines[5]["path"] = lines[5]["path"], lines[1]["path"]

    report = verify(edit_lines(members(bundle), "proofs.ndjson", swap_paths), key)
    assert report.failure == "record seq 2: inclusion proof does not lead to the checkpoint root"

    def swap_lines(lines: list[dict[str, Any]]) -> None:
        lines[1], lines[5] = lines[5], lines[1]

    report = verify(edit_lines(members(bundle), "proofs.ndjson", swap_lines), key)
    assert report.failure == "proofs.ndjson line 2: proof is for seq 9, expected seq 2"


def test_wrong_public_key(bundle: bytes) -> None:
    report = verify(bundle, Ed25519PrivateKey.generate())
    assert report.failure is not None
    assert report.failure.endswith("is not among the given public keys")
    assert report.records == 0


def test_changed_checkpoint(bundle: bytes, key: Ed25519PrivateKey) -> None:
    files = members(bundle)
    checkpoint = json.loads(files["checkpoint.json"])
    checkpoint["tree_size"] = 19
    files["checkpoint.json"] = json.dumps(checkpoint).encode()
    report = verify(pack(files), key)
    assert report.failure == "checkpoint signature invalid for this public key"


@pytest.mark.parametrize(
    "name", ["manifest.json", "checkpoint.json", "records.ndjson", "proofs.ndjson"]
)
def test_deleted_member(bundle: bytes, key: Ed25519PrivateKey, name: str) -> None:
    files = members(bundle)
    del files[name]
    assert verify(pack(files), key).failure == f"zip member missing: {name}"


def test_changed_payload(bundle: bytes, key: Ed25519PrivateKey) -> None:
    def edit(lines: list[dict[str, Any]]) -> None:
        lines[7]["payload"]["attributes"]["bytes"] = 1

    report = verify(edit_lines(members(bundle), "records.ndjson", edit), key)
    assert report.failure == "record seq 13: payload does not match payload_digest"


def test_dropped_record_is_a_count_mismatch(bundle: bytes, key: Ed25519PrivateKey) -> None:
    files = members(bundle)

    def drop_13(lines: list[dict[str, Any]]) -> None:
        del lines[7]

    edit_lines(files, "records.ndjson", drop_13)
    report = verify(edit_lines(files, "proofs.ndjson", drop_13), key)
    assert report.failure == (
        "manifest count mismatch (records: manifest 10, bundle 9, "
        "payloads: manifest 9, bundle 8, proofs: manifest 10, bundle 9)"
    )


def test_dropped_proof_line(bundle: bytes, key: Ed25519PrivateKey) -> None:
    def drop_last(lines: list[dict[str, Any]]) -> None:
        del lines[-1]

    report = verify(edit_lines(members(bundle), "proofs.ndjson", drop_last), key)
    assert report.failure == "records.ndjson has more lines than proofs.ndjson"


def test_genesis_link_is_checked(key: Ed25519PrivateKey) -> None:
    record: dict[str, Any] = {"v": 1, "seq": 1, "prev_hash": "11" * 32, "payload_digest": "00" * 32}
    body = canonical(record)
    row = BundleRecord(record, chain_hash(record["prev_hash"], body))
    store, tree = MemoryNodeStore(), IncrementalTree()
    store.put_many(tree.append([record_leaf_hash(body)]))
    checkpoint = sign_checkpoint(key, 1, tree.root())
    out = io.BytesIO()
    write_bundle(out, [row], [InclusionProof(0, 1, [])], checkpoint, public_key_pem(key), {})
    assert verify(out.getvalue(), key).failure == "record seq 1: prev_hash is not the genesis value"


def test_empty_bundle_verifies(key: Ed25519PrivateKey) -> None:
    checkpoint = sign_checkpoint(key, 0, bytes(32))
    out = io.BytesIO()
    manifest = write_bundle(out, [], [], checkpoint, public_key_pem(key), {"incident": "INC-1"})
    assert manifest["seq_range"] is None
    assert verify(out.getvalue(), key).ok


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not a zip", "not a readable zip file"),
        (b"", "not a readable zip file"),
    ],
)
def test_garbage_is_reported_not_raised(
    key: Ed25519PrivateKey, content: bytes, reason: str
) -> None:
    report = verify(content, key)
    assert not report.ok
    assert report.failure is not None
    assert report.failure.startswith(reason)


def test_malformed_lines_are_reported(bundle: bytes, key: Ed25519PrivateKey) -> None:
    files = members(bundle)
    files["records.ndjson"] = b'{"hash": 1, "hash": 2}\n'
    report = verify(pack(files), key)
    assert report.failure is not None
    assert report.failure.startswith("records.ndjson line 1: not valid JSON")


def test_writer_refuses_inconsistent_input(key: Ed25519PrivateKey) -> None:
    rows, store, tree = make_log()
    checkpoint = sign_checkpoint(key, tree.size, tree.root())
    pem = public_key_pem(key)
    proof = InclusionProof(0, tree.size, inclusion_proof(0, tree.size, store))
    with pytest.raises(ValueError, match="not against the checkpoint"):
        write_bundle(io.BytesIO(), rows[1:2], [proof], checkpoint, pem, {})
    with pytest.raises(ValueError, match="zip"):
        write_bundle(io.BytesIO(), rows[:2], [proof], checkpoint, pem, {})
