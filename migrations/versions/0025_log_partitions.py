"""Partitioned log on PostgreSQL (by seq range), event-id table, partition registry.

Revision ID: 0025
Revises: 0018
Create Date: 2026-12-07

On PostgreSQL `log_records` and `log_payloads` become tables PARTITIONED BY RANGE (seq),
with partitions of `CUSTODY_LOG_PARTITION_SIZE` seqs, so old partitions can be archived
as a whole (`custody archive`): detached and dropped after a verified evidence bundle of
them is written. Existing rows are copied across.

- A unique constraint on a partitioned table must include the partition key, so
  (source, event_id) is no longer unique on `log_records` there: idempotency keys live
  in `log_event_ids` (both databases), written in the append's transaction. It also
  keeps answering for archived records, so a resend of an archived event stays a
  duplicate.
- Foreign keys into `log_records` (payloads, incident evidence, incident timeline) are
  dropped on PostgreSQL: a dropped partition must not take incident history with it, and
  the rows they guarded are written only by the append path next to their record.
- `log_partitions` lists every partition (both tables share the names' ranges) and, once
  archived, its bundle. `custody_ensure_log_partitions` (SECURITY DEFINER, owned by the
  owner role) creates partitions ahead of the head for the runtime role, which has no
  DDL rights.

SQLite keeps plain tables (no partitions; archival is PostgreSQL-only).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.config import Settings

revision: str = "0025"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_FOREIGN_KEYS = (
    ("log_payloads", "fk_log_payloads_seq_log_records", "seq"),
    ("incident_evidence", "fk_incident_evidence_seq_log_records", "seq"),
    ("incident_timeline", "fk_incident_timeline_log_seq_log_records", "log_seq"),
)
RECORD_INDEXES = (
    ("ix_log_records_actor_seq", "actor_id, seq"),
    ("ix_log_records_resource_seq", "resource_type, resource_id, seq"),
    ("ix_log_records_action_seq", "action, seq"),
    ("ix_log_records_time", "time"),
    ("ix_log_records_request_seq", "request_id, seq"),
)

# New partitions are attached rather than created as PARTITION OF: ATTACH takes only a
# SHARE UPDATE EXCLUSIVE lock on the parent, so appends and reads go on meanwhile (the
# append path calls this as a fallback while holding the chain-head lock). The size
# defaults to the newest partition's; the runtime role may ask for at most a few
# partitions past the head, so it cannot fill the catalogue.
PG_ENSURE = """
CREATE OR REPLACE FUNCTION custody_ensure_log_partitions(p_through bigint, p_size bigint)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = {schema}, pg_temp
AS $$
DECLARE
    bound bigint;
    size bigint;
    head bigint;
    made integer := 0;
    suffix text;
    tbl text;
BEGIN
    IF p_size IS NOT NULL AND p_size < 1 THEN
        RAISE EXCEPTION 'custody: partition size must be at least 1' USING ERRCODE = '22023';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('custody_log_partitions'));
    SELECT end_seq, end_seq - first_seq INTO bound, size
        FROM log_partitions ORDER BY end_seq DESC LIMIT 1;
    bound := coalesce(bound, 1);
    size := coalesce(p_size, size, 1000000);
    SELECT seq INTO head FROM log_head WHERE id = 1;
    IF p_through > head + 2 * size + 10000 THEN
        RAISE EXCEPTION 'custody: partitions up to seq % asked, the head is at %', p_through, head
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    WHILE bound <= p_through LOOP
        suffix := 's' || lpad(bound::text, 12, '0');
        FOREACH tbl IN ARRAY ARRAY['log_records', 'log_payloads'] LOOP
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', tbl || '_' || suffix, tbl);
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)',
                           tbl, tbl || '_' || suffix, bound, bound + size);
        END LOOP;
        INSERT INTO log_partitions (name, first_seq, end_seq, created_at)
            VALUES ('log_records_' || suffix, bound, bound + size, now());
        bound := bound + size;
        made := made + 1;
    END LOOP;
    RETURN made;
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "log_event_ids",
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("source", "event_id", name=op.f("pk_log_event_ids")),
    )
    op.execute(
        "INSERT INTO log_event_ids (source, event_id, seq, content_hash) "
        "SELECT source, event_id, seq, content_hash FROM log_records WHERE event_id IS NOT NULL"
    )
    op.create_table(
        "log_partitions",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("end_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archive_seq", sa.BigInteger(), nullable=True),
        sa.Column("bundle", sa.String(length=500), nullable=True),
        sa.Column("bundle_sha256", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_log_partitions")),
    )
    op.create_index("ix_log_partitions_end_seq", "log_partitions", ["end_seq"])
    if op.get_bind().dialect.name == "postgresql":
        _pg_partition()
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER log_event_ids_no_{event.lower()} BEFORE {event} ON log_event_ids "
                f"BEGIN SELECT RAISE(ABORT, 'custody: {event} on log_event_ids is refused: "
                "the log is append-only'); END"
            )


def _pg_partition() -> None:
    bind = op.get_bind()
    size = Settings().log_partition_size
    for table, name, _ in PG_FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
    op.execute(
        "CREATE TRIGGER log_event_ids_append_only BEFORE UPDATE OR DELETE ON log_event_ids "
        "FOR EACH ROW EXECUTE FUNCTION custody_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER log_event_ids_no_truncate BEFORE TRUNCATE ON log_event_ids "
        "FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change()"
    )
    head = bind.execute(sa.text("SELECT seq FROM log_head WHERE id = 1")).scalar_one()
    for table in ("log_records", "log_payloads"):
        op.execute(f"ALTER TABLE {table} RENAME TO {table}_unpartitioned")
        op.execute(
            f"CREATE TABLE {table} (LIKE {table}_unpartitioned INCLUDING DEFAULTS) "
            "PARTITION BY RANGE (seq)"
        )
    schema = bind.execute(sa.text("SELECT quote_ident(current_schema())")).scalar_one()
    op.execute(PG_ENSURE.format(schema=schema))
    op.execute(
        "REVOKE ALL ON FUNCTION custody_ensure_log_partitions(bigint, bigint) FROM PUBLIC"
    )
    # Partitions for the rows there are and one more ahead; data in before the indexes.
    bind.execute(
        sa.text("SELECT custody_ensure_log_partitions(:through, :size)"),
        {"through": head + size, "size": size},
    )
    for table in ("log_records", "log_payloads"):
        op.execute(f"INSERT INTO {table} SELECT * FROM {table}_unpartitioned")  # noqa: S608
        op.execute(f"DROP TABLE {table}_unpartitioned")
    op.execute("ALTER TABLE log_records ADD CONSTRAINT pk_log_records PRIMARY KEY (seq)")
    op.execute("ALTER TABLE log_payloads ADD CONSTRAINT pk_log_payloads PRIMARY KEY (seq)")
    for name, columns in RECORD_INDEXES:
        op.execute(f"CREATE INDEX {name} ON log_records ({columns})")
    _pg_triggers()


def _pg_triggers() -> None:
    """The append-only triggers of 0001 and 0009, on the new parents (partitions inherit
    them, present and future)."""
    op.execute(
        "CREATE TRIGGER log_records_append_only BEFORE UPDATE OR DELETE ON log_records "
        "FOR EACH ROW EXECUTE FUNCTION custody_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER log_records_no_truncate BEFORE TRUNCATE ON log_records "
        "FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER log_payloads_no_update BEFORE UPDATE ON log_payloads "
        "FOR EACH ROW EXECUTE FUNCTION custody_refuse_change()"
    )
    op.execute(
        "CREATE TRIGGER log_payloads_delete_needs_erasure BEFORE DELETE ON log_payloads "
        "FOR EACH ROW EXECUTE FUNCTION custody_guard_payload_delete()"
    )
    op.execute(
        "CREATE TRIGGER log_payloads_no_truncate BEFORE TRUNCATE ON log_payloads "
        "FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change()"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        archived = bind.execute(
            sa.text("SELECT count(*) FROM log_partitions WHERE archived_at IS NOT NULL")
        ).scalar_one()
        if archived:
            raise RuntimeError(
                "partitions were archived: the log cannot go back to unpartitioned tables"
            )
        for table in ("log_records", "log_payloads"):
            op.execute(f"ALTER TABLE {table} RENAME TO {table}_partitioned")
            op.execute(f"CREATE TABLE {table} (LIKE {table}_partitioned INCLUDING DEFAULTS)")
            op.execute(f"INSERT INTO {table} SELECT * FROM {table}_partitioned")  # noqa: S608
            op.execute(f"DROP TABLE {table}_partitioned CASCADE")
        op.execute("DROP FUNCTION IF EXISTS custody_ensure_log_partitions(bigint, bigint)")
        op.execute("ALTER TABLE log_records ADD CONSTRAINT pk_log_records PRIMARY KEY (seq)")
        op.execute(
            "ALTER TABLE log_records ADD CONSTRAINT uq_log_records_source UNIQUE (source, event_id)"
        )
        op.execute("ALTER TABLE log_payloads ADD CONSTRAINT pk_log_payloads PRIMARY KEY (seq)")
        for name, columns in RECORD_INDEXES:
            op.execute(f"CREATE INDEX {name} ON log_records ({columns})")
        _pg_triggers()
        for table, name, column in PG_FOREIGN_KEYS:
            op.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
                "REFERENCES log_records (seq)"
            )
    op.drop_index("ix_log_partitions_end_seq", table_name="log_partitions")
    op.drop_table("log_partitions")
    op.drop_table("log_event_ids")
