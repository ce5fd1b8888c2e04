"""The incident page: reading, triage through the runbook, refusals, escaping, exports."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from fastapi.testclient import TestClient

from service.auth.schemas import Scope
from tests.console.conftest import csrf_of
from tests.incidents.conftest import ingest, open_incident


def _setup(client: TestClient, **fields: Any) -> dict[str, Any]:
    seqs = ingest(client, 3)
    return open_incident(client, evidence=seqs, runbook_id="generic-ai-incident", **fields)


def _steps(client: TestClient, incident_id: str) -> list[dict[str, Any]]:
    runbook = client.get(f"/v1/incidents/{incident_id}/runbook").json()
    return [s for p in runbook["phases"] for s in p["steps"]]


def test_triage_to_resolved_through_the_runbook(client: TestClient, browser_for: Any) -> None:
    inc = _setup(client)
    url = f"/console/incidents/{inc['id']}"
    b = browser_for(Scope.respond)
    page = b.get(url)
    assert page.status_code == 200
    for section in ("Summary", "Entities", "Runbook", "Timeline", "Evidence events"):
        assert section in page.text
    assert "actor:alice@example.com" in page.text  # entity with a pivot
    assert 'href="/console/entities/actor/alice%40example.com"' in page.text

    r = b.post_form(url, f"{url}/status", {"status": "acknowledged"}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/v1/incidents/{inc['id']}").json()["status"] == "acknowledged"

    # A required step cannot be skipped; a requires_note step needs its note.
    r = b.post_form(url, f"{url}/steps/preserve-evidence", {"status": "skipped", "note": "x"})
    assert r.status_code == 422
    assert "required and cannot be skipped" in r.text
    r = b.post_form(url, f"{url}/steps/classify-incident", {"status": "done", "note": ""})
    assert r.status_code == 422
    assert "needs a note" in r.text

    # Resolving is gated on the required steps, and the page says which.
    r = b.post_form(url, f"{url}/status", {"status": "resolved"})
    assert r.status_code == 409
    assert "required runbook steps are open" in r.text
    assert client.get(f"/v1/incidents/{inc['id']}").json()["status"] == "acknowledged"

    for step in _steps(client, inc["id"]):
        status = "done" if step["required"] else "skipped"
        r = b.post_form(url, f"{url}/steps/{step['id']}", {"status": status, "note": "checked"})
        assert r.status_code == 200, r.text  # redirected back to the page
    r = b.post_form(url, f"{url}/comments", {"body": "Contained at the gateway"})
    assert r.status_code == 200
    r = b.post_form(url, f"{url}/assign", {"assignee": "bob@example.com"})
    assert r.status_code == 200
    r = b.post_form(url, f"{url}/status", {"status": "resolved"})
    assert r.status_code == 200
    api = client.get(f"/v1/incidents/{inc['id']}").json()
    assert api["status"] == "resolved"
    assert api["assignee"] == "bob@example.com"
    page = b.get(url).text
    assert "Contained at the gateway" in page
    assert "No required step open" in page
    assert 'value="closed"' in page  # the allowed next states only
    assert 'value="contained"' not in page


def test_read_session_sees_but_cannot_change(client: TestClient, browser_for: Any) -> None:
    inc = _setup(client)
    url = f"/console/incidents/{inc['id']}"
    reader = browser_for(Scope.read)
    page = reader.get(url)
    assert page.status_code == 200
    assert "Change status" not in page.text  # no respond forms for a read token
    csrf = csrf_of(reader.get(url).text)
    r = reader.client.post(f"{url}/status", data={"csrf": csrf, "status": "acknowledged"})
    assert r.status_code == 403
    assert "needs the respond scope" in r.text
    assert client.get(f"/v1/incidents/{inc['id']}").json()["status"] == "open"


def test_forged_form_without_csrf_changes_nothing(client: TestClient, browser_for: Any) -> None:
    inc = _setup(client)
    b = browser_for(Scope.admin)
    r = b.client.post(f"/console/incidents/{inc['id']}/status", data={"status": "acknowledged"})
    assert r.status_code == 403
    assert "CSRF" in r.text
    assert client.get(f"/v1/incidents/{inc['id']}").json()["status"] == "open"


def test_bad_input_names_the_field_and_changes_nothing(
    client: TestClient, browser_for: Any
) -> None:
    inc = _setup(client)
    url = f"/console/incidents/{inc['id']}"
    b = browser_for(Scope.respond)
    r = b.post_form(url, f"{url}/status", {"status": "exploded"})
    assert r.status_code == 422
    assert "<strong>status</strong>" in r.text
    r = b.post_form(url, f"{url}/status", {"status": "resolved"})  # not allowed from open
    assert r.status_code == 409
    assert "allowed: acknowledged, duplicate, false_positive" in r.text
    r = b.post_form(url, f"{url}/comments", {"body": "  "})
    assert r.status_code == 422
    assert client.get(f"/v1/incidents/{inc['id']}").json()["version"] == inc["version"]


def test_user_strings_are_escaped(client: TestClient, browser_for: Any) -> None:
    inc = _setup(client, title='<script>alert("t")</script>')
    url = f"/console/incidents/{inc['id']}"
    b = browser_for(Scope.respond)
    b.post_form(url, f"{url}/comments", {"body": "<img src=x onerror=alert(1)>"})
    page = b.get(url).text
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert" not in b.get("/console/").text


def test_report_bundle_and_verification(client: TestClient, browser_for: Any) -> None:
    inc = _setup(client)
    url = f"/console/incidents/{inc['id']}"
    b = browser_for(Scope.read)
    r = b.get(f"{url}/report")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == f'attachment; filename="{inc["id"]}.md"'
    assert f"# {inc['id']}" in r.text
    r = b.post_form(url, f"{url}/export", {})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert "manifest.json" in names
    r = b.get(f"{url}/verify")
    assert r.status_code == 200
    assert "Verified: 3 records, 3 anchored" in r.text


def test_entity_pivot_lists_the_incidents(client: TestClient, browser_for: Any) -> None:
    first, second = _setup(client), _setup(client, title="Second")
    b = browser_for(Scope.read)
    page = b.get("/console/entities/actor/alice%40example.com").text
    assert first["id"] in page
    assert second["id"] in page
    queue = b.get("/console/?status=&entity=actor:alice@example.com").text
    assert second["id"] in queue
    r = b.get("/console/?entity=nonsense")
    assert r.status_code == 422
    assert "<strong>entity</strong>" in r.text
