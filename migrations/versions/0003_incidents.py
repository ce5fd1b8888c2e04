"""Incidents: counter, incidents, evidence links, timeline and pinned runbook instances.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:39:30.059915
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    counter = op.create_table(
        "incident_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_counter")),
    )
    op.bulk_insert(counter, [{"id": 1, "value": 0}])
    op.create_table(
        "incidents",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("severity_rank", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("assignee", sa.String(length=256), nullable=True),
        sa.Column("rule_id", sa.String(length=128), nullable=True),
        sa.Column("rule_hash", sa.String(length=64), nullable=True),
        sa.Column("group_values", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("dedup_key", sa.String(length=128), nullable=True),
        sa.Column("active_dedup_key", sa.String(length=128), nullable=True),
        sa.Column("duplicate_of", sa.BigInteger(), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("contained_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("anchor_seq", sa.BigInteger(), nullable=False),
        sa.Column("anchor_checkpoint", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["duplicate_of"], ["incidents.number"], name=op.f("fk_incidents_duplicate_of_incidents")
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_incidents")),
        sa.UniqueConstraint("active_dedup_key", name=op.f("uq_incidents_active_dedup_key")),
    )
    op.create_index(
        "ix_incidents_assignee_number", "incidents", ["assignee", "number"], unique=False
    )
    op.create_index(op.f("ix_incidents_duplicate_of"), "incidents", ["duplicate_of"], unique=False)
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"], unique=False)
    op.create_index("ix_incidents_rule_id_number", "incidents", ["rule_id", "number"], unique=False)
    op.create_index(
        "ix_incidents_severity_rank_number", "incidents", ["severity_rank", "number"], unique=False
    )
    op.create_index("ix_incidents_status_number", "incidents", ["status", "number"], unique=False)
    op.create_index(
        "ix_incidents_status_severity_number",
        "incidents",
        ["status", "severity", "number"],
        unique=False,
    )
    op.create_index(
        "ix_incidents_updated_at_number", "incidents", ["updated_at", "number"], unique=False
    )

    op.create_table(
        "incident_evidence",
        sa.Column("incident_number", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_number"],
            ["incidents.number"],
            name=op.f("fk_incident_evidence_incident_number_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["seq"], ["log_records.seq"], name=op.f("fk_incident_evidence_seq_log_records")
        ),
        sa.PrimaryKeyConstraint("incident_number", "seq", name=op.f("pk_incident_evidence")),
    )
    op.create_index(op.f("ix_incident_evidence_seq"), "incident_evidence", ["seq"], unique=False)

    op.create_table(
        "incident_runbooks",
        sa.Column("incident_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("runbook_id", sa.String(length=80), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("instance", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_number"],
            ["incidents.number"],
            name=op.f("fk_incident_runbooks_incident_number_incidents"),
        ),
        sa.PrimaryKeyConstraint("incident_number", name=op.f("pk_incident_runbooks")),
    )
    op.create_index(
        op.f("ix_incident_runbooks_runbook_id"), "incident_runbooks", ["runbook_id"], unique=False
    )

    op.create_table(
        "incident_timeline",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_number", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_type", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("log_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_number"],
            ["incidents.number"],
            name=op.f("fk_incident_timeline_incident_number_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["log_seq"], ["log_records.seq"], name=op.f("fk_incident_timeline_log_seq_log_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_timeline")),
    )
    op.create_index(
        "ix_incident_timeline_incident_number_id",
        "incident_timeline",
        ["incident_number", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_incident_timeline_incident_number_id", table_name="incident_timeline")

    op.drop_table("incident_timeline")
    op.drop_index(op.f("ix_incident_runbooks_runbook_id"), table_name="incident_runbooks")

    op.drop_table("incident_runbooks")
    op.drop_index(op.f("ix_incident_evidence_seq"), table_name="incident_evidence")

    op.drop_table("incident_evidence")
    op.drop_index("ix_incidents_updated_at_number", table_name="incidents")
    op.drop_index("ix_incidents_status_severity_number", table_name="incidents")
    op.drop_index("ix_incidents_status_number", table_name="incidents")
    op.drop_index("ix_incidents_severity_rank_number", table_name="incidents")
    op.drop_index("ix_incidents_rule_id_number", table_name="incidents")
    op.drop_index("ix_incidents_opened_at", table_name="incidents")
    op.drop_index(op.f("ix_incidents_duplicate_of"), table_name="incidents")
    op.drop_index("ix_incidents_assignee_number", table_name="incidents")

    op.drop_table("incidents")
    op.drop_table("incident_counter")
