"""Rules engine runner: cursor/lease row, first-seen memory, per-rule counters.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    state = op.create_table(
        "rule_engine_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_engine_state")),
    )
    # The single row exists from the start, so runners only ever lock it, never insert.
    op.bulk_insert(state, [{"id": 1, "cursor": 0, "generation": 0}])
    op.create_table(
        "rule_seen",
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("key", sa.String(length=2048), nullable=False),
        sa.Column("last_seen_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "key", name=op.f("pk_rule_seen")),
    )
    op.create_index(op.f("ix_rule_seen_last_seen_us"), "rule_seen", ["last_seen_us"])
    op.create_table(
        "rule_stats",
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("events_matched", sa.BigInteger(), nullable=False),
        sa.Column("firings", sa.BigInteger(), nullable=False),
        sa.Column("incidents_opened", sa.BigInteger(), nullable=False),
        sa.Column("last_fired_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_rule_stats")),
    )


def downgrade() -> None:
    op.drop_table("rule_stats")
    op.drop_index(op.f("ix_rule_seen_last_seen_us"), table_name="rule_seen")
    op.drop_table("rule_seen")
    op.drop_table("rule_engine_state")
