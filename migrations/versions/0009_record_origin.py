"""Record format v2 (origin), its transition record, payload-delete and incident guards.

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-06

Every record now carries its format version `v` and (v2) its `origin`: "server" or the
ingest token id. Existing records stay v1 and keep verifying as they were hashed. A log
that already holds records gets one server record `log.schema.upgrade` naming the old
head, both versions and the payloads already erased by v1 erase records, so the point
where the log moved to v2 is itself chained, signed into later checkpoints, and
checkable: no v1 record may follow it, and later only server-origin erase records
excuse a missing payload.

Triggers, on both databases: a `log_payloads` row can only be deleted once a
server-origin `event.erase` record names its seq (what the erasure procedure writes
first); the incident timeline and evidence links are append-only.
"""

import hashlib
import os
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson
import sqlalchemy as sa
from alembic import op

from service.logformat import (
    SERVER_ORIGIN,
    SERVER_SOURCE,
    UPGRADE_ACTION,
    canonical_record,
    chain_hash,
    format_time,
    payload_body,
    payload_digest,
)

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("incident_timeline", "incident_evidence")

# The erased seq is visible to SQL as the erase record's resource {type: event, id: seq}.
# Built from constants only (no input), hence the S608 waiver.
_ERASE_RECORD_EXISTS = (
    "EXISTS (SELECT 1 FROM log_records r WHERE r.resource_type = 'event' "  # noqa: S608
    "AND r.resource_id = {seq} AND r.action = 'event.erase' "
    f"AND r.source = '{SERVER_SOURCE}' AND r.origin = '{SERVER_ORIGIN}')"
)
_PAYLOAD_MESSAGE = (
    "custody: deleting a payload is refused: no server-origin event.erase record names it"
)

PG_GUARD_PAYLOAD = f"""
CREATE OR REPLACE FUNCTION custody_guard_payload_delete() RETURNS trigger AS $$
BEGIN
    IF NOT {_ERASE_RECORD_EXISTS.format(seq="OLD.seq::text")} THEN
        RAISE EXCEPTION '{_PAYLOAD_MESSAGE} (seq %)', OLD.seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.add_column(
        "log_records", sa.Column("v", sa.SmallInteger(), server_default="1", nullable=False)
    )
    op.add_column("log_records", sa.Column("origin", sa.String(length=64), nullable=True))
    _transition_record()
    if op.get_bind().dialect.name == "postgresql":
        _pg_triggers()
    else:
        _sqlite_triggers()


def _transition_record() -> None:
    """Append `log.schema.upgrade` (v2, origin server) when the log already has records."""
    bind = op.get_bind()
    head_seq, head_hash = bind.execute(sa.text("SELECT seq, hash FROM log_head WHERE id = 1")).one()
    if head_seq == 0:
        return  # an empty log starts at v2: nothing to transition
    now = format_time(datetime.now(UTC))
    # Payloads already missing and named by a v1 erase record. From now on only
    # server-origin records excuse a missing payload; these v1 erasures are excused by
    # this list, so a forged v1 erase record cannot excuse a deletion made later.
    erased = bind.execute(
        sa.text(
            "SELECT e.resource_id FROM log_records e WHERE e.source = :source "
            "AND e.action = 'event.erase' AND e.resource_type = 'event'"
        ),
        {"source": SERVER_SOURCE},
    ).scalars()
    named = sorted({int(r) for r in erased if r is not None and r.isdigit()})
    present: set[int] = set()
    for start in range(0, len(named), 500):  # erasures are rare; chunks keep binds small
        present.update(
            bind.execute(
                sa.select(sa.column("seq"))
                .select_from(sa.table("log_payloads"))
                .where(sa.column("seq").in_(named[start : start + 500]))
            ).scalars()
        )
    attributes = {"from_version": 1, "to_version": 2, "last_v1_seq": head_seq,
                  "last_v1_hash": head_hash,
                  "erased_seqs": sorted(s for s in named if s not in present)}  # fmt: skip
    body = payload_body(attributes, None)
    salt = os.urandom(16)
    seq = head_seq + 1
    record = {
        "v": 2, "seq": seq, "received_at": now, "id": None, "time": now,
        "source": SERVER_SOURCE, "action": UPGRADE_ACTION, "outcome": "success",
        "actor": {"type": "system", "id": "custody db upgrade"},
        "resource": {"type": "log", "id": "record-format"}, "request_id": None,
        "payload_digest": payload_digest(salt, body), "prev_hash": head_hash,
        "origin": SERVER_ORIGIN,
    }  # fmt: skip
    digest = chain_hash(head_hash, canonical_record(record))
    core = orjson.dumps([None, now, SERVER_SOURCE, UPGRADE_ACTION, "success"])
    bind.execute(
        sa.text(
            "INSERT INTO log_records (seq, received_at, event_id, time, source, action, "
            "outcome, actor_type, actor_id, resource_type, resource_id, payload_digest, "
            "prev_hash, hash, content_hash, v, origin) VALUES (:seq, :now, NULL, :now, "
            ":source, :action, 'success', 'system', 'custody db upgrade', 'log', "
            "'record-format', :digest, :prev, :hash, :content, 2, :origin)"
        ),
        {
            "seq": seq,
            "now": now,
            "source": SERVER_SOURCE,
            "action": UPGRADE_ACTION,
            "digest": record["payload_digest"],
            "prev": head_hash,
            "hash": digest,
            "content": hashlib.sha256(core + b"\n" + body).hexdigest(),
            "origin": SERVER_ORIGIN,
        },
    )
    bind.execute(
        sa.text("INSERT INTO log_payloads (seq, salt, body) VALUES (:seq, :salt, :body)"),
        {"seq": seq, "salt": salt.hex(), "body": body.decode()},
    )
    bind.execute(
        sa.text("UPDATE log_head SET seq = :seq, hash = :hash WHERE id = 1"),
        {"seq": seq, "hash": digest},
    )


def _pg_triggers() -> None:
    op.execute(PG_GUARD_PAYLOAD)
    op.execute(
        "CREATE TRIGGER log_payloads_delete_needs_erasure BEFORE DELETE ON log_payloads "
        "FOR EACH ROW EXECUTE FUNCTION custody_guard_payload_delete()"
    )
    op.execute(
        "CREATE TRIGGER log_payloads_no_truncate BEFORE TRUNCATE ON log_payloads "
        "FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change()"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION custody_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION custody_refuse_change()"
        )


def _sqlite_triggers() -> None:
    op.execute(
        "CREATE TRIGGER log_payloads_delete_needs_erasure BEFORE DELETE ON log_payloads "
        f"WHEN NOT {_ERASE_RECORD_EXISTS.format(seq='CAST(OLD.seq AS TEXT)')} "
        f"BEGIN SELECT RAISE(ABORT, '{_PAYLOAD_MESSAGE}'); END"
    )
    for table in APPEND_ONLY:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} BEGIN "
                f"SELECT RAISE(ABORT, 'custody: {event} on {table} is refused: "
                "it is append-only'); END"
            )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.text("SELECT count(*) FROM log_records WHERE v <> 1")).scalar():
        raise RuntimeError("the log holds v2 records: the record format cannot go back to v1")
    if bind.dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP TRIGGER IF EXISTS log_payloads_no_truncate ON log_payloads")
        op.execute("DROP TRIGGER IF EXISTS log_payloads_delete_needs_erasure ON log_payloads")
        op.execute("DROP FUNCTION IF EXISTS custody_guard_payload_delete()")
    else:
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        op.execute("DROP TRIGGER IF EXISTS log_payloads_delete_needs_erasure")
    # Native DROP COLUMN (SQLite 3.35+, PostgreSQL); no table copy past the triggers.
    op.execute("ALTER TABLE log_records DROP COLUMN origin")
    op.execute("ALTER TABLE log_records DROP COLUMN v")
