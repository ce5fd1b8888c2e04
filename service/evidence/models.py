"""Tables of the Merkle tree over the log and of the signed checkpoints.

``merkle_nodes`` holds every *perfect* subtree, leaves included (level 0), keyed by
``(level, idx)``: rows never change once written, so a proof for any tree size is a
handful of primary-key reads. ``merkle_state`` is one row (id=1) with the tree size and
its frontier, so the builder resumes without reading nodes; locking it serializes
appenders. ``checkpoints`` keeps every signed tree head. Triggers refuse UPDATE and
DELETE on nodes and checkpoints, as on the log itself.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class MerkleNode(Base):
    __tablename__ = "merkle_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class MerkleState(Base):
    __tablename__ = "merkle_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    # Concatenated 32-byte hashes of the frontier, largest subtree first.
    frontier: Mapped[bytes] = mapped_column(LargeBinary)


class CheckpointRow(Base):
    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, index=True)
    root_hash: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class SigningKeyRow(Base):
    """A key that signs (``retired_at`` None) or signed checkpoints: its public half."""

    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CosignatureRow(Base):
    """A witness's cosignature of one checkpoint (C2SP tlog-cosignature model)."""

    __tablename__ = "witness_cosignatures"
    __table_args__ = (UniqueConstraint("checkpoint_id", "witness_key_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("checkpoints.id"))
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[str] = mapped_column(String(64))
    witness_key_id: Mapped[str] = mapped_column(String(64))
    witness_public_key: Mapped[str] = mapped_column(Text)
    time: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
