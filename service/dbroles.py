"""PostgreSQL least privilege: what the runtime role (API and worker) may do, per table.

Migrations run as the owner role, which owns every table and the erasure function. The
service connects as a runtime role that cannot UPDATE, DELETE, TRUNCATE or ALTER the
log: it appends (INSERT) and reads, moves the chain head (UPDATE of two columns, and a
trigger lets the head only move forward onto an appended record) and erases payloads
only through `custody_erase_payload`; it makes log partitions ahead of the head only
through `custody_ensure_log_partitions`, and never detaches or drops one (archival runs
as the owner: `custody archive`). Only the owner may ALTER a table or disable its
triggers, so the append-only triggers bind the runtime role for good.

Every table has an explicit entry here; a table added by a migration without one gets
full DML and is named in the output, and a test fails until it is classified.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql
from sqlalchemy import Connection, text

APPEND = "SELECT, INSERT"
CHANGE = "SELECT, INSERT, UPDATE"
FULL = "SELECT, INSERT, UPDATE, DELETE"

TABLE_GRANTS: dict[str, str] = {
    # The log, its Merkle tree and signed checkpoints, incident history: append-only.
    "log_records": APPEND,
    "log_payloads": APPEND,
    "log_event_ids": APPEND,
    "merkle_nodes": APPEND,
    "checkpoints": APPEND,
    "witness_cosignatures": APPEND,
    "incident_timeline": APPEND,
    "incident_evidence": APPEND,
    "notify_outbox": APPEND,
    # Single-row heads and cursors, moved forward in place.
    "log_head": "SELECT, UPDATE (seq, hash)",
    "incident_counter": "SELECT, UPDATE",
    "merkle_state": "SELECT, UPDATE",
    "rule_engine_state": "SELECT, UPDATE",
    "rule_snapshot": "SELECT, UPDATE",
    # Current state whose history is in the log.
    "api_tokens": CHANGE,
    "signing_keys": CHANGE,
    "incidents": CHANGE,
    "legal_holds": CHANGE,
    "incident_entities": CHANGE,
    "incident_links": CHANGE,
    "notify_cursors": CHANGE,
    "snoozes": CHANGE,
    "improvements": CHANGE,
    "rule_stats": CHANGE,
    "rule_sources": CHANGE,
    "rule_late": CHANGE,
    "search_index_state": CHANGE,
    "rate_buckets": CHANGE,
    "console_sessions": CHANGE,
    # Rows that are replaced or expire.
    "incident_runbooks": FULL,
    "rule_seen": FULL,
    # Partitions of the log: made through custody_ensure_log_partitions, archived by the
    # owner (`custody archive`); the runtime role reads where archived seqs went.
    "log_partitions": "SELECT",
    # `custody serve` checks that the database is migrated.
    "alembic_version": "SELECT",
}
FUNCTIONS = (
    "custody_erase_payload(bigint, jsonb, jsonb)",
    "custody_ensure_log_partitions(bigint, bigint)",
)


class RolesError(Exception):
    """The grants cannot be applied (one line for the CLI)."""


@dataclass(frozen=True, slots=True)
class Plan:
    statements: list[sql.Composable]
    unclassified: list[str]


def _tables(conn: Connection) -> list[str]:
    """Tables of the schema, partitions left out: access to a partitioned table is
    granted on its parent, and none on a partition directly (nor needed)."""
    return list(
        conn.execute(
            text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
                "AND NOT c.relispartition ORDER BY 1"
            )
        ).scalars()
    )


def plan(conn: Connection, *, role: str, password: str | None) -> Plan:
    """The statements that make `role` exactly the runtime role (idempotent)."""
    exists = conn.execute(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).one_or_none()
    if exists is not None and exists.rolsuper:
        raise RolesError(f"{role} is a superuser; the runtime role must be an ordinary role")
    if role == conn.execute(text("SELECT current_user")).scalar_one():
        raise RolesError(f"{role} is the role running this command (the owner)")
    owns = conn.execute(
        text(
            "SELECT count(*) FROM pg_tables "
            "WHERE schemaname = current_schema() AND tableowner = :r"
        ),
        {"r": role},
    ).scalar_one()
    if owns:
        raise RolesError(f"{role} owns tables of this schema; the owner runs migrations only")
    who = sql.Identifier(role)
    out: list[sql.Composable] = []
    if exists is None:
        out.append(sql.SQL("CREATE ROLE {} LOGIN").format(who))
    if password is not None:
        out.append(sql.SQL("ALTER ROLE {} PASSWORD {}").format(who, sql.Literal(password)))
    schema = sql.Identifier(conn.execute(text("SELECT current_schema()")).scalar_one())
    out.append(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, who))
    unclassified = []
    for table in _tables(conn):
        grant = TABLE_GRANTS.get(table)
        if grant is None:
            unclassified.append(table)
            grant = FULL
        name = sql.Identifier(table)
        out.append(sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(name, who))
        out.append(sql.SQL("GRANT {} ON TABLE {} TO {}").format(sql.SQL(grant), name, who))
    # Identity columns (timeline ids, checkpoint ids, hold numbers) draw from sequences.
    out.append(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(schema, who))
    for function in FUNCTIONS:
        out.append(sql.SQL(f"GRANT EXECUTE ON FUNCTION {function} TO {{}}").format(who))
    return Plan(out, unclassified)


def apply(conn: Connection, statements: list[sql.Composable]) -> None:
    """Run the statements in the caller's transaction (the CLI commits)."""
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def render(conn: Connection, statement: sql.Composable, *, hide_password: bool = True) -> str:
    driver = conn.connection.driver_connection
    text_ = statement.as_string(driver)
    if hide_password and " PASSWORD " in text_:
        return text_.split(" PASSWORD ")[0] + " PASSWORD '********'"
    return text_
