"""The post-incident report is read in Markdown renderers, browsers and terminals: nothing a
user typed (titles, descriptions, comments, assignees, event fields) may act there."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.incidents.conftest import ingest, open_incident, patch

HOSTILE = (
    "<script>alert(1)</script> [click](javascript:alert(1)) <javascript:alert(2)>"
    " ![x](http://evil.example/t.png) \x1b[31mred\x1b[0m a|b `code` rev\u202eersed"
)


def test_user_text_is_inert_in_the_report(client: TestClient) -> None:
    seqs = ingest(client, 1, actor={"id": "<img src=x onerror=alert(1)>|x", "type": "user"})
    incident = open_incident(
        client,
        title=HOSTILE,
        description="fine line\n# Forged section\n- forged item\n1. forged step\n" + HOSTILE,
        evidence=seqs,
    )
    assert patch(client, incident, assignee="<b>mallory</b>\n## Evidence").status_code == 200
    comment = client.post(
        f"/v1/incidents/{incident['id']}/comments", json={"body": "## Resolved\n" + HOSTILE}
    )
    assert comment.status_code == 201, comment.text
    report = client.get(f"/v1/incidents/{incident['id']}/report").text

    for live in (
        "<script",
        "<img",
        "<b>",
        "](javascript:",
        "<javascript:",
        "![x](",
        "\x1b",
        "\u202e",
    ):
        assert live not in report, live
    headings = [line for line in report.splitlines() if line.startswith("#")]
    expected = [headings[0], "## Summary", "## Timeline", "## Entities", "## Evidence"]
    assert headings[:5] == expected
    assert all("Forged" not in h and "Resolved" not in h for h in headings)
    assert not any(re.match(r"\s*([-+*]|\d+[.)]) forged", line) for line in report.splitlines())

    # Every table row keeps its column count: escaped pipes cannot add cells.
    def cells(line: str) -> int:
        return len(re.split(r"(?<!\\)\|", line)) - 2

    rows = report.splitlines()
    timeline = rows[rows.index("## Timeline") : rows.index("## Evidence")]
    evidence = rows[rows.index("## Evidence") : rows.index("## Evidence") + 12]
    assert {cells(line) for line in timeline if line.startswith("| ")} == {5}
    assert {cells(line) for line in evidence if line.startswith("| ")} == {8}
    # The text is still there for a reader, escaped.
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in report
