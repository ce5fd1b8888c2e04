"""ship() in-process against the app: every real sample, re-shipping, refusals reported."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from service.client import Client
from service.client.progress import PlainReporter
from service.client.ship import ShipOptions, ShipRejected, ship
from tests.adapters.helpers import FIXTURES
from tests.adapters.test_ingest_api import EXPECTED
from tests.conftest import event


def shipper(tc: TestClient) -> Client:
    http = httpx.Client(transport=tc._transport, base_url=tc.base_url, headers=tc.headers)
    return Client(http=http, sleep=lambda _: None)


def run(tc: TestClient, paths: list[str], **options: Any) -> tuple[Any, str]:
    console = Console(file=io.StringIO(), width=200)
    with PlainReporter(console, "shipping") as reporter:
        result = ship(paths, client=shipper(tc), options=ShipOptions(**options), reporter=reporter)
    assert isinstance(console.file, io.StringIO)
    return result, console.file.getvalue()


def test_every_real_sample_ships_and_reshipping_stores_nothing(client: TestClient) -> None:
    paths = [str(FIXTURES / name) for name in sorted(EXPECTED)]
    total = sum(sum(counts.values()) for _, counts in EXPECTED.values())
    result, report = run(client, paths)
    assert (result.accepted, result.duplicates) == (total, 0)
    assert f"{total} events sent ({total} new, 0 duplicates)" in report
    result, _ = run(client, paths, batch_size=7)
    assert (result.accepted, result.duplicates) == (0, total)


@pytest.mark.parametrize("fmt", [None, "cloudtrail"])
def test_gz_cloudtrail_document(client: TestClient, tmp_path: Path, fmt: str | None) -> None:
    records = orjson.loads(
        (FIXTURES / "stratus/aws.persistence.iam-create-admin-user.json").read_bytes()
    )
    path = tmp_path / "trail.json.gz"
    path.write_bytes(gzip.compress(orjson.dumps({"Records": records})))
    result, _ = run(client, [str(path)], format=fmt)
    assert result.accepted == 3


def test_stdin(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"".join(orjson.dumps(event()) + b"\n" for _ in range(5))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    result, _ = run(client, ["-"])
    assert result.accepted == 5  # five identical lines, five positions, five events


def test_refused_batch_names_file_lines_and_reasons(client: TestClient, tmp_path: Path) -> None:
    events = [event(id=f"x{i}") for i in range(250)]
    events[130] = event(id="x130", action="Model.Invoke")
    events[140] = {k: v for k, v in event(id="x140").items() if k != "time"}
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    with pytest.raises(ShipRejected) as caught:
        run(client, [str(path)], batch_size=100)
    assert caught.value.result.accepted == 100  # the batch before is stored
    assert "events.ndjson:101 to" in caught.value.summary
    assert caught.value.lines[0].startswith(f"{path}:131: action: String should match")
    assert caught.value.lines[1] == f"{path}:141: time: Field required"


def test_unreadable_record_stops_after_sending_what_precedes_it(
    client: TestClient, tmp_path: Path
) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(orjson.dumps(event(id="ok")) + b"\n{broken\n" + orjson.dumps(event()) + b"\n")
    with pytest.raises(ShipRejected) as caught:
        run(client, [str(path)])
    assert caught.value.result.accepted == 1
    (line,) = caught.value.lines
    assert line.startswith(f"{path}:2: malformed JSON")
