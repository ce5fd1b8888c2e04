"""Pages render with a fixed number of SQL statements, whatever the number of rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from service.auth.schemas import Scope
from tests.incidents.conftest import ingest, open_incident


@contextmanager
def counting(engine: Any) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _statements(app: Any, browser: Any, url: str) -> int:
    with counting(app.state.engine) as statements:
        assert browser.get(url).status_code == 200
    return len(statements)


def test_queue_needs_the_same_queries_for_3_or_30_incidents(
    app: Any, client: TestClient, browser_for: Any
) -> None:
    b = browser_for(Scope.read)
    seqs = ingest(client, 2)
    for _ in range(3):
        open_incident(client, evidence=seqs, runbook_id="generic-ai-incident")
    few = _statements(app, b, "/console/")
    for _ in range(27):
        open_incident(client, evidence=seqs, runbook_id="generic-ai-incident")
    assert _statements(app, b, "/console/") == few


def test_incident_page_needs_the_same_queries_for_small_and_large_incidents(
    app: Any, client: TestClient, browser_for: Any
) -> None:
    b = browser_for(Scope.respond)
    small = open_incident(client, evidence=ingest(client, 1), runbook_id="generic-ai-incident")
    seqs = [
        s
        for i in range(10)
        for s in ingest(client, 2, actor={"type": "user", "id": f"u{i}@example.com"})
    ]
    large = open_incident(client, evidence=seqs, runbook_id="generic-ai-incident")
    for n in range(5):
        client.post(f"/v1/incidents/{large['id']}/comments", json={"body": f"note {n}"})
    open_incident(client, evidence=seqs[:4], title="shares entities")  # related
    one = _statements(app, b, f"/console/incidents/{small['id']}")
    many = _statements(app, b, f"/console/incidents/{large['id']}")
    assert many == one
