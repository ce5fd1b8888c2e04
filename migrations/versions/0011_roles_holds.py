"""Legal holds; on PostgreSQL the erasure function and a guard on the chain head.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The runtime role has no DELETE on log_payloads: this function (owned by the migration
# role, SECURITY DEFINER) is its only way to erase, and it erases only while appending an
# `event.erase` record for that seq at the chain head, in one statement. The record is
# the one the application computed (the chain code is the single place that builds
# records); the function checks that it is an erase record of the server for `p_seq`
# that extends the head. The table rows are passed as JSON so any column a later
# revision adds travels with them.
PG_ERASE = """
CREATE OR REPLACE FUNCTION custody_erase_payload(p_seq bigint, p_record jsonb, p_payload jsonb)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = {schema}, pg_temp
AS $$
DECLARE
    head_seq bigint;
    head_hash text;
    erase_seq bigint := (p_record->>'seq')::bigint;
    target_source text;
    target_action text;
BEGIN
    SELECT seq, hash INTO head_seq, head_hash FROM log_head WHERE id = 1 FOR UPDATE;
    SELECT source, action INTO target_source, target_action FROM log_records WHERE seq = p_seq;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'custody: no log record with seq %', p_seq USING ERRCODE = 'P0002';
    END IF;
    IF target_source = 'custody'
       OR target_action IN ('event.erase', 'audit.read', 'apikey.create', 'auth.login.failure') THEN
        RAISE EXCEPTION 'custody: seq % (%) cannot be erased', p_seq, target_action
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- The same test as service.holds.service.holds_on, so that calling this function
    -- directly does not get around a hold either.
    IF EXISTS (
        SELECT 1 FROM incident_evidence e JOIN incidents i ON i.number = e.incident_number
        WHERE e.seq = p_seq AND i.status NOT IN ('closed', 'false_positive', 'duplicate')
    ) OR EXISTS (
        SELECT 1 FROM legal_holds h JOIN log_records r ON r.seq = p_seq
        WHERE h.released_at IS NULL
          AND (h.incident_number IS NULL OR h.incident_number IN
               (SELECT incident_number FROM incident_evidence WHERE seq = p_seq))
          AND (h.actor_id IS NULL OR h.actor_id = r.actor_id)
          AND (h.resource_type IS NULL OR h.resource_type = r.resource_type)
          AND (h.resource_id IS NULL OR h.resource_id = r.resource_id)
          AND (h.since IS NULL OR h.since <= r.time)
          AND (h.until IS NULL OR h.until > r.time)
    ) THEN
        RAISE EXCEPTION 'custody: seq % is held (incident evidence or legal hold)', p_seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_record->>'source' IS DISTINCT FROM 'custody'
       OR p_record->>'action' IS DISTINCT FROM 'event.erase'
       OR p_record->>'resource_type' IS DISTINCT FROM 'event'
       OR p_record->>'resource_id' IS DISTINCT FROM p_seq::text
       OR (p_record ? 'origin' AND p_record->>'origin' IS DISTINCT FROM 'server')
       OR erase_seq IS DISTINCT FROM head_seq + 1
       OR p_record->>'prev_hash' IS DISTINCT FROM head_hash
       OR (p_payload->>'seq')::bigint IS DISTINCT FROM erase_seq
       OR ((p_payload->>'body')::jsonb #>> '{{attributes,erased_seq}}') IS DISTINCT FROM p_seq::text
    THEN
        RAISE EXCEPTION 'custody: not an event.erase record for seq % at the chain head', p_seq
            USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO log_records SELECT * FROM jsonb_populate_record(NULL::log_records, p_record);
    INSERT INTO log_payloads SELECT * FROM jsonb_populate_record(NULL::log_payloads, p_payload);
    UPDATE log_head SET seq = erase_seq, hash = p_record->>'hash' WHERE id = 1;
    DELETE FROM log_payloads WHERE seq = p_seq;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'custody: the payload of seq % was already erased', p_seq
            USING ERRCODE = 'P0002';
    END IF;
    RETURN erase_seq;
END;
$$
"""

# The runtime role needs UPDATE on the head row to append; this keeps that grant from
# meaning more: the head only moves forward, onto a record that exists with that hash.
PG_HEAD_GUARD = """
CREATE OR REPLACE FUNCTION custody_head_guard() RETURNS trigger AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.seq < OLD.seq
       OR (NEW.seq = OLD.seq AND NEW.hash IS DISTINCT FROM OLD.hash)
       OR (NEW.seq > OLD.seq AND NEW.hash IS DISTINCT FROM
           (SELECT hash FROM log_records WHERE seq = NEW.seq)) THEN
        RAISE EXCEPTION 'custody: the chain head only moves forward onto an appended record'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("number", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("incident_number", sa.BigInteger(), nullable=True),
        sa.Column("actor_id", sa.String(length=512), nullable=True),
        sa.Column("resource_type", sa.String(length=512), nullable=True),
        sa.Column("resource_id", sa.String(length=512), nullable=True),
        sa.Column("since", sa.String(length=32), nullable=True),
        sa.Column("until", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("create_seq", sa.BigInteger(), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.Column("release_seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_number"],
            ["incidents.number"],
            name=op.f("fk_legal_holds_incident_number_incidents"),
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_legal_holds")),
    )
    op.create_index(
        "ix_legal_holds_released_at_number", "legal_holds", ["released_at", "number"]
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        schema = bind.execute(sa.text("SELECT quote_ident(current_schema())")).scalar_one()
        op.execute(PG_ERASE.format(schema=schema))
        op.execute("REVOKE ALL ON FUNCTION custody_erase_payload(bigint, jsonb, jsonb) FROM PUBLIC")
        op.execute(PG_HEAD_GUARD)
        op.execute(
            "CREATE TRIGGER log_head_forward_only BEFORE UPDATE ON log_head "
            "FOR EACH ROW EXECUTE FUNCTION custody_head_guard()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS log_head_forward_only ON log_head")
        op.execute("DROP FUNCTION IF EXISTS custody_head_guard()")
        op.execute("DROP FUNCTION IF EXISTS custody_erase_payload(bigint, jsonb, jsonb)")
    op.drop_index("ix_legal_holds_released_at_number", table_name="legal_holds")
    op.drop_table("legal_holds")
