"""Search indexer cursor per OpenSearch index.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "search_index_state",
        sa.Column("index_name", sa.String(length=255), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("index_uuid", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("index_name", name=op.f("pk_search_index_state")),
    )


def downgrade() -> None:
    op.drop_table("search_index_state")
