"""Key files, checkpoint signatures and the auditor's consistency check."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

from service.evidence.errors import (
    InconsistentCheckpointsError,
    InvalidCheckpointError,
    InvalidPublicKeyError,
    KeyFileError,
)
from service.evidence.incremental import IncrementalTree
from service.evidence.keys import (
    _create_exclusively,
    key_fingerprint,
    load_or_create_key,
    load_public_key,
    public_key_pem,
    short_key_id,
)
from service.evidence.merkle import MemoryNodeStore, consistency_proof, leaf_hash
from service.evidence.signing import (
    Checkpoint,
    checkpoint_is_valid,
    checkpoint_message,
    sign_checkpoint,
    verify_checkpoint,
    verify_consistency_with_checkpoint,
)

WHEN = datetime(2026, 11, 30, 12, 0, 1, tzinfo=UTC)
ROOT = bytes(range(32))


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_key_file_is_created_0600_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    created = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    reloaded = load_or_create_key(path)
    assert public_key_pem(reloaded) == public_key_pem(created)
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"]  # no temp file left


def test_key_file_ignores_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_or_create_key(tmp_path / "k.pem")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_group_or_world_readable_key_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k.pem"
    load_or_create_key(path)
    path.chmod(mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_or_create_key(path)


def test_non_ed25519_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rsa.pem"
    rsa = generate_private_key(public_exponent=65537, key_size=2048)
    pem = rsa.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="not an Ed25519 key"):
        load_or_create_key(path)
    path.write_bytes(b"garbage")
    with pytest.raises(KeyFileError, match="not an unencrypted PEM"):
        load_or_create_key(path)


def test_public_key_identity(key: Ed25519PrivateKey) -> None:
    pem = public_key_pem(key)
    public = load_public_key(pem)
    assert key_fingerprint(public) == key_fingerprint(key)
    assert len(key_fingerprint(key)) == 64
    assert key_fingerprint(key).startswith(short_key_id(key))
    with pytest.raises(InvalidPublicKeyError):
        load_public_key("not a key")


def test_signed_message_format() -> None:
    assert checkpoint_message(7, "ab" * 32, "2026-11-30T12:00:01.000000Z") == (
        b"custody-checkpoint/v1\n7\n" + b"ab" * 32 + b"\n2026-11-30T12:00:01.000000Z\n"
    )


def test_sign_and_verify_roundtrip(key: Ed25519PrivateKey) -> None:
    checkpoint = sign_checkpoint(key, 42, ROOT, WHEN.astimezone(timezone(timedelta(hours=2))))
    assert checkpoint.timestamp == "2026-11-30T12:00:01.000000Z"
    assert checkpoint.key_id == key_fingerprint(key)
    assert len(base64.b64decode(checkpoint.signature)) == 64
    verify_checkpoint(key.public_key(), checkpoint)
    assert Checkpoint.from_dict(checkpoint.to_dict()) == checkpoint


def test_wrong_key_fails(key: Ed25519PrivateKey) -> None:
    checkpoint = sign_checkpoint(key, 42, ROOT, WHEN)
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(InvalidCheckpointError, match="signature invalid for this public key"):
        verify_checkpoint(other, checkpoint)
    assert not checkpoint_is_valid(other, checkpoint)


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 43},
        {"root_hash": "00" * 32},
        {"timestamp": "2026-11-30T12:00:02.000000Z"},
        {"signature": base64.b64encode(bytes(64)).decode()},
        {"key_id": "00" * 32},
    ],
)
def test_tampered_checkpoint_fails(key: Ed25519PrivateKey, change: dict[str, object]) -> None:
    data = {**sign_checkpoint(key, 42, ROOT, WHEN).to_dict(), **change}
    assert not checkpoint_is_valid(key.public_key(), Checkpoint.from_dict(data))


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": -1},
        {"tree_size": True},
        {"tree_size": "42"},
        {"root_hash": "AB" * 32},
        {"timestamp": "2026-11-30 12:00:01Z"},
        {"timestamp": "2026-02-30T12:00:01Z"},
        {"extra": 1},
    ],
)
def test_malformed_checkpoint_rejected(key: Ed25519PrivateKey, change: dict[str, object]) -> None:
    data = {**sign_checkpoint(key, 42, ROOT, WHEN).to_dict(), **change}
    with pytest.raises(InvalidCheckpointError):
        Checkpoint.from_dict(data)


def test_naive_timestamp_refused(key: Ed25519PrivateKey) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_checkpoint(key, 1, ROOT, datetime(2026, 1, 1))


def test_auditor_consistency_check(key: Ed25519PrivateKey) -> None:
    store, tree = MemoryNodeStore(), IncrementalTree()
    store.put_many(tree.append(leaf_hash(b"%d" % i) for i in range(11)))
    old = sign_checkpoint(key, tree.size, tree.root(), WHEN)
    store.put_many(tree.append(leaf_hash(b"%d" % i) for i in range(11, 30)))
    new = sign_checkpoint(key, tree.size, tree.root(), WHEN + timedelta(minutes=5))
    proof = consistency_proof(11, 30, store)
    public = key.public_key()
    verify_consistency_with_checkpoint(old, new, proof, public)

    with pytest.raises(InconsistentCheckpointsError, match="fewer records"):
        verify_consistency_with_checkpoint(new, old, proof, public)
    forked = sign_checkpoint(key, 30, leaf_hash(b"fork"), WHEN + timedelta(minutes=5))
    with pytest.raises(InconsistentCheckpointsError, match="does not match the signed roots"):
        verify_consistency_with_checkpoint(old, forked, proof, public)
    stranger = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(InvalidCheckpointError):
        verify_consistency_with_checkpoint(old, new, proof, stranger)


def test_key_creation_never_clobbers_an_existing_file(tmp_path: Path) -> None:
    # Simulates losing the creation race: the file appears before our link().
    path = tmp_path / "k.pem"
    assert _create_exclusively(path, b"first")
    assert not _create_exclusively(path, b"second")
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["k.pem"]
