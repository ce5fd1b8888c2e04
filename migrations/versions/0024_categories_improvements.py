"""Incident categories (AI incident taxonomy), TLP levels, and improvement items.

Revision ID: 0024
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("category", sa.String(length=40), nullable=True))
        batch.create_index("ix_incidents_category", ["category"])
        batch.add_column(
            sa.Column("tlp", sa.String(length=20), server_default="TLP:AMBER", nullable=False)
        )
    op.create_table(
        "improvements",
        sa.Column("number", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_number", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.Column("close_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_number"],
            ["incidents.number"],
            name=op.f("fk_improvements_incident_number_incidents"),
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_improvements")),
    )
    op.create_index("ix_improvements_status_number", "improvements", ["status", "number"])
    op.create_index("ix_improvements_incident_number", "improvements", ["incident_number"])


def downgrade() -> None:
    op.drop_index("ix_improvements_incident_number", table_name="improvements")
    op.drop_index("ix_improvements_status_number", table_name="improvements")
    op.drop_table("improvements")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("tlp")
        batch.drop_index("ix_incidents_category")
        batch.drop_column("category")
