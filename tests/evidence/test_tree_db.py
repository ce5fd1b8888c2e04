"""The database-backed tree equals the RFC 9162 reference, built in any number of steps."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.auditlog.models import LogRecord
from service.config import Settings
from service.db import session_scope
from service.evidence.merkle import (
    consistency_proof,
    inclusion_proof,
    reference_consistency_proof,
    reference_inclusion_proof,
    reference_root,
    root_at,
)
from service.evidence.multiproof import inclusion_proofs, root_with_leaves
from service.evidence.store import SqlNodeStore, catch_up, read_tree
from service.evidence.task import Checkpointer
from service.logformat import canonical_record, leaf_hash, record_from_row
from tests.evidence.dbhelpers import fill


def _leaves(sessions: Any) -> list[bytes]:
    with session_scope(sessions) as session:
        rows = session.execute(select(*LogRecord.__table__.columns).order_by(LogRecord.seq))
        return [leaf_hash(canonical_record(record_from_row(row))) for row in rows]


def test_proofs_equal_the_reference_for_every_size(
    client: TestClient, sessions: Any, settings: Settings
) -> None:
    fill(client, 37)
    task = Checkpointer(settings, batch=5)  # many small appends, as the worker does
    while task.run_once(sessions):
        pass
    leaves = _leaves(sessions)
    with session_scope(sessions) as session:
        store = SqlNodeStore(session)
        n = len(leaves)  # the events plus Custody's own records (token creation)
        assert read_tree(session).size == n >= 37
        assert read_tree(session).root() == reference_root(leaves)
        for size in range(1, len(leaves) + 1):
            assert root_at(size, store) == reference_root(leaves[:size])
            for index in range(size):
                assert inclusion_proof(index, size, store) == reference_inclusion_proof(
                    index, leaves[:size]
                )
            for m in range(1, size + 1):
                assert consistency_proof(m, size, store) == reference_consistency_proof(
                    m, leaves[:size]
                )
        # Batched forms agree with the single ones.
        assert inclusion_proofs(list(range(n)), n, store) == [
            reference_inclusion_proof(i, leaves) for i in range(n)
        ]
        picked = {i: leaves[i] for i in (0, 5, 6, 7, 30)}
        assert root_with_leaves(picked, n, store) == reference_root(leaves)
        assert root_with_leaves({5: leaves[6]}, n, store) != reference_root(leaves)


@pytest.mark.parametrize("steps", [1, 3])
def test_catch_up_follows_the_head(client: TestClient, sessions: Any, steps: int) -> None:
    for _ in range(steps):
        fill(client, 10)
        with session_scope(sessions) as session:
            tree = catch_up(session=session)
    leaves = _leaves(sessions)
    assert tree.size == len(leaves)
    assert tree.root() == reference_root(leaves)
