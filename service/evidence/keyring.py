"""Signing key identity and rotation.

Every key that signs checkpoints is listed in ``signing_keys`` with its public half
(registered on its first checkpoint); checkpoints name theirs in ``key_id``. `custody keys
rotate` replaces the key file with a new key, in this order: one transaction appends a
``log.key.rotate`` record naming both keys (the new public key in full), signs a
checkpoint covering it with the *old* key, so the old key vouches for its successor
under a signature auditors already trust, and marks the old key retired; then the new key
atomically replaces the file. Running servers notice the new file on their next use.

Retired keys keep verifying what they signed: ``GET /v1/log/public-key`` serves them all,
and every verifier here takes a keyring (several PEM blocks in one file) and picks the key
a checkpoint names. Which keys are retired is read from ``<key>.retired.pem`` next to the
key file (appended by the rotation), not from the database: whoever can write the
database must not be able to slip a key of their own into the keyring auditors fetch.
``signing_keys`` keeps the history (when each key was registered and retired).
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from service.evidence.errors import InvalidPublicKeyError
from service.evidence.keys import key_fingerprint, load_public_key, public_key_pem

_PEM_BLOCK = re.compile(
    rb"-----BEGIN PUBLIC KEY-----\s+[A-Za-z0-9+/=\s]+?-----END PUBLIC KEY-----", re.S
)


def load_public_keys(pem: bytes | str) -> list[Ed25519PublicKey]:
    """Every PEM public key in ``pem`` (a keyring: one or more blocks, text between)."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    blocks = _PEM_BLOCK.findall(data)
    if not blocks:
        raise InvalidPublicKeyError("no PEM public key found")
    return [load_public_key(block) for block in blocks]


def key_for(keys: Sequence[Ed25519PublicKey], key_id: str) -> Ed25519PublicKey | None:
    return next((k for k in keys if key_fingerprint(k) == key_id), None)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    public_key: str
    created_at: datetime
    retired_at: datetime | None

    def to_dict(self) -> dict[str, str | None]:
        def at(moment: datetime | None) -> str | None:
            if moment is None:
                return None
            aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")

        return {
            "key_id": self.key_id,
            "public_key": self.public_key,
            "created_at": at(self.created_at),
            "retired_at": at(self.retired_at),
        }


def register(session: Session, key: Ed25519PrivateKey | Ed25519PublicKey) -> None:
    """List ``key`` in ``signing_keys`` if it is not yet (concurrent starters welcome)."""
    from service.evidence.models import SigningKeyRow

    values = {
        "key_id": key_fingerprint(key),
        "public_key": public_key_pem(key).decode("ascii"),
        "created_at": datetime.now(UTC),
        "retired_at": None,
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(SigningKeyRow).values(values).on_conflict_do_nothing())


def retired_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".retired.pem")


def retired_keys(key_path: Path) -> list[Ed25519PublicKey]:
    """The retired public keys listed next to the key file (none before a rotation)."""
    try:
        data = retired_path(key_path).read_bytes()
    except FileNotFoundError:
        return []
    return load_public_keys(data)


def _retire(key_path: Path, key: Ed25519PrivateKey, at: datetime) -> None:
    """Append ``key``'s public half to the retired list (fsynced before the key goes)."""
    stamp = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    entry = f"# key_id {key_fingerprint(key)} retired {stamp}\n".encode() + public_key_pem(key)
    fd = os.open(retired_path(key_path), os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    try:
        os.write(fd, entry)
        os.fsync(fd)
    finally:
        os.close(fd)


def listing(
    session: Session, current: Ed25519PrivateKey, key_path: Path
) -> tuple[KeyInfo, list[KeyInfo]]:
    """(the current key, retired keys newest first), dates from ``signing_keys``."""
    from service.evidence.models import SigningKeyRow

    rows = {r.key_id: r for r in session.scalars(select(SigningKeyRow))}
    now = datetime.now(UTC)

    def info(key: Ed25519PrivateKey | Ed25519PublicKey, retired: bool) -> KeyInfo:
        key_id = key_fingerprint(key)
        row = rows.get(key_id)
        created = row.created_at if row is not None else now
        retired_at = (row.retired_at if row is not None else None) or (now if retired else None)
        return KeyInfo(key_id, public_key_pem(key).decode("ascii"), created, retired_at)

    retired = [info(k, True) for k in reversed(retired_keys(key_path))]
    return info(current, False), retired


def keyring_pem(current: KeyInfo, retired: Sequence[KeyInfo]) -> bytes:
    """The current key first (what single-key tools read), then the retired ones, each
    after a comment line naming it: a file every verifier here accepts as a keyring."""
    parts = [f"# key_id {current.key_id} current\n{current.public_key}"]
    for info in retired:
        stamp = info.to_dict()["retired_at"]
        parts.append(f"# key_id {info.key_id} retired {stamp}\n{info.public_key}")
    return "".join(parts).encode("ascii")


@dataclass(frozen=True, slots=True)
class Rotation:
    old_key_id: str
    new_key_id: str
    seq: int
    checkpoint_tree_size: int


def rotate(session: Session, key_path: Path) -> tuple[Rotation, Ed25519PrivateKey]:
    """Log and sign the rotation in ``session``'s transaction (see the module docstring);
    the caller commits, then calls :func:`install` with the returned new key."""
    from service.auditlog.chain import record_internal
    from service.evidence.checkpoints import checkpoint_now, signer
    from service.evidence.keys import load_private_key
    from service.evidence.models import SigningKeyRow

    old = load_private_key(key_path)
    new = Ed25519PrivateKey.generate()
    old_id, new_id = key_fingerprint(old), key_fingerprint(new)
    register(session, old)
    seq = record_internal(
        session=session,
        action="log.key.rotate",
        actor={"type": "operator", "id": _operator()},
        resource={"type": "signing_key", "id": new_id},
        attributes={
            "old_key_id": old_id,
            "new_key_id": new_id,
            "new_public_key": public_key_pem(new).decode("ascii"),
        },
    )
    row = checkpoint_now(session=session, signer=signer(key_path))  # still the old key
    now = datetime.now(UTC)
    session.execute(
        update(SigningKeyRow).where(SigningKeyRow.key_id == old_id).values(retired_at=now)
    )
    register(session, new)
    return Rotation(old_id, new_id, seq, row.tree_size), new


def finish(key_path: Path, new: Ed25519PrivateKey) -> None:
    """After the rotation committed: list the old key as retired, then install the new
    one. A crash in between leaves the old key current and also listed: harmless."""
    from service.evidence.keys import load_private_key

    _retire(key_path, load_private_key(key_path), datetime.now(UTC))
    install(key_path, new)


def install(key_path: Path, key: Ed25519PrivateKey) -> None:
    """Atomically replace the key file with ``key`` (mode 0600); the old key is gone."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    tmp = key_path.with_name(f".{key_path.name}.rotate.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, key_path)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
