"""The overview: SVG charts built in the server from aggregates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from service.auth.schemas import Scope
from tests.incidents.conftest import ingest, open_incident


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_overview_charts_count_what_happened(client: TestClient, browser_for: Any) -> None:
    now = datetime.now(UTC)
    ingest(client, 3, source="gw-main", time=_iso(now - timedelta(seconds=30)))
    ingest(client, 2, source="late-shipper", time=_iso(now - timedelta(hours=2)))
    ingest(client, 1, source="skewed-clock", time=_iso(now + timedelta(minutes=30)))
    open_incident(client, severity="critical")
    open_incident(client, severity="critical")
    open_incident(client, severity="low")
    b = browser_for(Scope.read)
    r = b.get("/console/overview")
    assert r.status_code == 200
    page = r.text
    assert page.count('<svg class="chart"') == 3
    assert "gw-main" in page
    today = now.strftime("%m-%d")
    assert re.search(rf"<title>{today} critical: 2</title>", page)
    assert re.search(rf"<title>{today} low: 1</title>", page)
    rows = dict(re.findall(r"<tr><td>([^<]+)</td><td>\d+</td><td>(.*?)</td>", page))
    assert "<strong" in rows["late-shipper"]  # two hours late: past the lateness window
    assert rows["gw-main"] == "0"
    skewed = re.search(r"<tr><td>skewed-clock</td><td>1</td><td>0</td><td>(.*?)</td>", page)
    assert skewed and "1" in skewed.group(1)


def test_chart_labels_are_escaped() -> None:
    from service.console import charts

    svg = charts.lines("a<b", ["<x>"], {"<script>": [1.0]}) + charts.legend(["<i>"])
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "&lt;x&gt;" in svg
    assert "&lt;i&gt;" in svg
