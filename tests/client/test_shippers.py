"""The requests Fluent Bit and Vector send with the configurations in docs/shippers.md,
replayed byte for byte against POST /v1/events.

Shapes (from their sources and docs): Fluent Bit `http` output, `Format json_lines`,
`json_date_key false`, `Compress gzip`, `Header Authorization Bearer ...`: gzip NDJSON,
labelled application/x-ndjson since 3.0 (fluent/fluent-bit#8715) and application/json
before; `Format json` is a JSON array. Vector `http` sink, `encoding.codec json`,
`framing.method newline_delimited`, `compression gzip`, `auth.strategy bearer`: gzip
NDJSON as application/x-ndjson; without framing, a JSON array as application/json.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from service.auth.schemas import Scope
from tests.adapters.helpers import FIXTURES
from tests.conftest import event

DOCS = Path(__file__).resolve().parents[2] / "docs" / "shippers.md"


def records(n: int, prefix: str) -> list[dict[str, Any]]:
    return [event(id=f"{prefix}-{i}", source="gateway") for i in range(n)]


def ndjson(items: list[dict[str, Any]], trailing: bool = True) -> bytes:
    body = b"\n".join(orjson.dumps(r) for r in items)
    return body + b"\n" if trailing else body


def fluent_bit_json_lines(
    items: list[dict[str, Any]], content_type: str
) -> tuple[bytes, dict[str, str]]:
    return gzip.compress(ndjson(items)), {
        "Content-Type": content_type,
        "Content-Encoding": "gzip",
        "User-Agent": "Fluent-Bit",
    }


def vector_ndjson(items: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    return gzip.compress(ndjson(items)), {
        "Content-Type": "application/x-ndjson",
        "Content-Encoding": "gzip",
        "User-Agent": "Vector/0.43.0",
    }


@pytest.fixture
def ingest_headers(make_token: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(Scope.ingest)}"}


@pytest.mark.parametrize(
    "content_type",
    ["application/x-ndjson", "application/json"],
    ids=["fluent-bit-3", "fluent-bit-2"],
)
def test_fluent_bit_json_lines_chunks(
    client: TestClient, ingest_headers: dict[str, str], content_type: str
) -> None:
    for chunk in range(3):  # one request per flushed chunk
        body, headers = fluent_bit_json_lines(records(400, f"fb{chunk}"), content_type)
        r = client.post("/v1/events", content=body, headers={**headers, **ingest_headers})
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == 400
    # Fluent Bit retries a chunk whose answer it lost: nothing is stored twice.
    r = client.post("/v1/events", content=body, headers={**headers, **ingest_headers})
    assert (r.json()["accepted"], r.json()["duplicates"]) == (0, 400)


def test_fluent_bit_json_array(client: TestClient, ingest_headers: dict[str, str]) -> None:
    body = gzip.compress(orjson.dumps(records(50, "fbj")))
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", **ingest_headers}
    r = client.post("/v1/events", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 50


def test_fluent_bit_default_date_key_is_refused_by_name(
    client: TestClient, ingest_headers: dict[str, str]
) -> None:
    """Why the snippet sets json_date_key false: the default adds a top-level "date"."""
    items = [{"date": 1764590400.123, **r} for r in records(3, "fbd")]
    body, headers = fluent_bit_json_lines(items, "application/x-ndjson")
    r = client.post("/v1/events", content=body, headers={**headers, **ingest_headers})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"date"}


@pytest.mark.parametrize("trailing", [True, False], ids=["newline-after-last", "no-final-newline"])
def test_vector_ndjson_batches(
    client: TestClient, ingest_headers: dict[str, str], trailing: bool
) -> None:
    for batch in range(2):
        items = records(1000, f"v{batch}")
        body = gzip.compress(ndjson(items, trailing))
        _, headers = vector_ndjson(items)
        r = client.post("/v1/events", content=body, headers={**headers, **ingest_headers})
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == 1000


def test_vector_default_framing_is_a_json_array(
    client: TestClient, ingest_headers: dict[str, str]
) -> None:
    body = gzip.compress(b"[" + b",".join(orjson.dumps(r) for r in records(20, "va")) + b"]")
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", **ingest_headers}
    r = client.post("/v1/events", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 20


@pytest.mark.parametrize("uri", ["/v1/events", "/v1/events?format=cloudtrail"])
def test_vector_forwarding_cloudtrail_records(
    client: TestClient, ingest_headers: dict[str, str], uri: str
) -> None:
    trail = orjson.loads((FIXTURES / "stratus/aws.impact.bedrock-invoke-model.json").read_bytes())
    body, headers = vector_ndjson(trail)
    r = client.post(uri, content=body, headers={**headers, **ingest_headers})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 15


def test_docs_snippets_use_the_tested_settings() -> None:
    text = DOCS.read_text()
    for setting in (
        "Format         json_lines",
        "json_date_key  false",
        "Header         Authorization Bearer ${CUSTODY_TOKEN}",
        "Compress       gzip",
        "URI            /v1/events",
        "codec: json",
        "method: newline_delimited",
        "compression: gzip",
        "strategy: bearer",
        "max_events: 1000",
    ):
        assert setting in text, setting
