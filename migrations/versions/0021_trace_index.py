"""Causal replay: find one agent run (trace id in request_id) without a full scan.

Revision ID: 0021
Revises: 0024
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_log_records_request_seq", "log_records", ["request_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_log_records_request_seq", table_name="log_records")
