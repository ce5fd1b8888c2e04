"""Triage at scale: incident entities and links, SLA clocks on incidents, snoozes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("ack_due_at", TZ, nullable=True))
        batch.add_column(sa.Column("resolve_due_at", TZ, nullable=True))
        batch.add_column(sa.Column("waiting_reason", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("waiting_since", TZ, nullable=True))
        batch.add_column(sa.Column("ack_breached_at", TZ, nullable=True))
        batch.add_column(sa.Column("resolve_breached_at", TZ, nullable=True))
    op.create_table(
        "incident_entities",
        sa.Column("incident_number", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", TZ, nullable=True),
        sa.Column("last_seen", TZ, nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_number"],
            ["incidents.number"],
            name=op.f("fk_incident_entities_incident_number_incidents"),
        ),
        sa.PrimaryKeyConstraint(
            "incident_number", "type", "value", name=op.f("pk_incident_entities")
        ),
    )
    op.create_index("ix_incident_entities_type_value", "incident_entities", ["type", "value"])
    op.create_table(
        "incident_links",
        sa.Column("incident_number", sa.BigInteger(), nullable=False),
        sa.Column("other_number", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_number"],
            ["incidents.number"],
            name=op.f("fk_incident_links_incident_number_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["other_number"],
            ["incidents.number"],
            name=op.f("fk_incident_links_other_number_incidents"),
        ),
        sa.PrimaryKeyConstraint("incident_number", "other_number", name=op.f("pk_incident_links")),
    )


    op.create_table(
        "snoozes",
        sa.Column("number", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(length=128), nullable=False),
        sa.Column("group_values", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("entity_type", sa.String(length=32), nullable=True),
        sa.Column("entity_value", sa.String(length=512), nullable=True),
        sa.Column("until", TZ, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("released_at", TZ, nullable=True),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.Column("expired_seq", sa.BigInteger(), nullable=True),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("last_suppressed_at", TZ, nullable=True),
        sa.Column("seqs", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_snoozes")),
    )
    op.create_index("ix_snoozes_rule_id_released_at", "snoozes", ["rule_id", "released_at"])


def downgrade() -> None:
    op.drop_index("ix_snoozes_rule_id_released_at", table_name="snoozes")
    op.drop_table("snoozes")
    op.drop_table("incident_links")
    op.drop_index("ix_incident_entities_type_value", table_name="incident_entities")
    op.drop_table("incident_entities")
    with op.batch_alter_table("incidents") as batch:
        for name in (
            "resolve_breached_at", "ack_breached_at", "waiting_since", "waiting_reason",
            "resolve_due_at", "ack_due_at",
        ):  # fmt: skip
            batch.drop_column(name)
