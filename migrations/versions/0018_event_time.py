"""Event time per source: source clocks, late counts per source and rule, engine snapshot,
runner status.

Revision ID: 0018
Revises: 0022
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rule_engine_state") as batch:
        batch.add_column(sa.Column("warmup", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("last_error", sa.String(length=2000), nullable=True))
        batch.add_column(sa.Column("last_error_at_us", sa.BigInteger(), nullable=True))
    op.create_table(
        "rule_sources",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("max_time_us", sa.BigInteger(), nullable=True),
        sa.Column("last_arrival_us", sa.BigInteger(), nullable=True),
        sa.Column("lateness_us", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("late", sa.BigInteger(), nullable=False),
        sa.Column("skewed", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_rule_sources")),
    )
    op.create_table(
        "rule_late",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source", "rule_id", name=op.f("pk_rule_late")),
    )
    snapshot = op.create_table(
        "rule_snapshot",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("taken_at_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_snapshot")),
    )
    # The single row exists from the start: the runner only ever updates it.
    op.bulk_insert(snapshot, [{"id": 1, "seq": -1, "fingerprint": ""}])


def downgrade() -> None:
    op.drop_table("rule_snapshot")
    op.drop_table("rule_late")
    op.drop_table("rule_sources")
    with op.batch_alter_table("rule_engine_state") as batch:
        batch.drop_column("last_error_at_us")
        batch.drop_column("last_error")
        batch.drop_column("warmup")
