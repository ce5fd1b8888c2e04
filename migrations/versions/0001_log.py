"""The append-only log: records, erasable payloads, chain head, refusal triggers.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ZERO_HASH = "0" * 64

PG_REFUSE = """
CREATE OR REPLACE FUNCTION custody_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'custody: % on % is refused: the log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "log_records",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("received_at", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=256), nullable=True),
        sa.Column("time", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("actor_type", sa.String(length=512), nullable=True),
        sa.Column("actor_id", sa.String(length=512), nullable=True),
        sa.Column("actor_ip", sa.String(length=128), nullable=True),
        sa.Column("actor_user_agent", sa.String(length=1024), nullable=True),
        sa.Column("resource_type", sa.String(length=512), nullable=True),
        sa.Column("resource_id", sa.String(length=512), nullable=True),
        sa.Column("resource_version", sa.String(length=512), nullable=True),
        sa.Column("request_id", sa.String(length=256), nullable=True),
        sa.Column("payload_digest", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_log_records")),
        sa.UniqueConstraint("source", "event_id", name=op.f("uq_log_records_source")),
    )
    op.create_index("ix_log_records_actor_seq", "log_records", ["actor_id", "seq"])
    op.create_index(
        "ix_log_records_resource_seq", "log_records", ["resource_type", "resource_id", "seq"]
    )
    op.create_index("ix_log_records_action_seq", "log_records", ["action", "seq"])
    op.create_index("ix_log_records_time", "log_records", ["time"])
    op.create_table(
        "log_payloads",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["seq"], ["log_records.seq"], name=op.f("fk_log_payloads_seq_log_records")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_log_payloads")),
    )
    head = op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_head")),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": ZERO_HASH}])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_REFUSE)
        op.execute(
            "CREATE TRIGGER log_records_append_only BEFORE UPDATE OR DELETE ON log_records "
            "FOR EACH ROW EXECUTE FUNCTION custody_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER log_records_no_truncate BEFORE TRUNCATE ON log_records "
            "FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change()"
        )
        # Payloads may be deleted (erasure) but never rewritten.
        op.execute(
            "CREATE TRIGGER log_payloads_no_update BEFORE UPDATE ON log_payloads "
            "FOR EACH ROW EXECUTE FUNCTION custody_refuse_change()"
        )
    else:
        for name, event, table in (
            ("log_records_no_update", "UPDATE", "log_records"),
            ("log_records_no_delete", "DELETE", "log_records"),
            ("log_payloads_no_update", "UPDATE", "log_payloads"),
        ):
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {event} ON {table} BEGIN "
                f"SELECT RAISE(ABORT, 'custody: {event} on {table} is refused: "
                "the log is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS log_payloads_no_update ON log_payloads")
        op.execute("DROP TRIGGER IF EXISTS log_records_no_truncate ON log_records")
        op.execute("DROP TRIGGER IF EXISTS log_records_append_only ON log_records")
        op.execute("DROP FUNCTION IF EXISTS custody_refuse_change()")
    op.drop_table("log_head")
    op.drop_table("log_payloads")
    op.drop_index("ix_log_records_time", table_name="log_records")
    op.drop_index("ix_log_records_action_seq", table_name="log_records")
    op.drop_index("ix_log_records_resource_seq", table_name="log_records")
    op.drop_index("ix_log_records_actor_seq", table_name="log_records")
    op.drop_table("log_records")
