"""gzip request bodies: accepted, limited by their decompressed size, bombs refused cheaply."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import event

GZ_NDJSON = {"content-type": "application/x-ndjson", "content-encoding": "gzip"}
MiB = 1024 * 1024


def ndjson(n: int, prefix: str = "g") -> bytes:
    return b"".join(orjson.dumps(event(id=f"{prefix}{i}")) + b"\n" for i in range(n))


def zeros_member(size: int) -> bytes:
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(MiB)
    out = [deflate.compress(chunk) for _ in range(size // MiB)]
    return b"".join([*out, deflate.flush()])


@pytest.fixture(scope="module")
def bomb_1gib() -> bytes:
    # 1,024 gzip members of 1 MiB of zeros: ~1 MB on the wire, 1 GiB once inflated
    # (`gzip -d` inflates concatenated members too, so this is a real bomb).
    return zeros_member(MiB) * 1024


def test_gzip_ndjson_is_accepted(client: TestClient) -> None:
    r = client.post("/v1/events", content=gzip.compress(ndjson(50)), headers=GZ_NDJSON)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 50


def test_concatenated_gzip_members_are_all_read(client: TestClient) -> None:
    body = gzip.compress(ndjson(3, "a")) + gzip.compress(ndjson(4, "b"))
    r = client.post("/v1/events", content=body, headers=GZ_NDJSON)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 7


def test_limit_applies_to_the_decompressed_size(client: TestClient, app: Any) -> None:
    app.state.settings.max_body_bytes = 64 * 1024
    over = ndjson(300)  # ~100 KB inflated, a few KB compressed
    assert len(over) > 64 * 1024
    assert len(gzip.compress(over)) < 16 * 1024
    r = client.post("/v1/events", content=gzip.compress(over), headers=GZ_NDJSON)
    assert r.status_code == 413, r.text
    assert "decompresses" in r.json()["detail"]
    under = ndjson(50)
    r = client.post("/v1/events", content=gzip.compress(under), headers=GZ_NDJSON)
    assert r.status_code == 200, r.text


def test_gzip_bomb_is_refused_without_inflating_it(client: TestClient, bomb_1gib: bytes) -> None:
    assert len(bomb_1gib) < 2 * MiB
    tracemalloc.start()
    try:
        r = client.post("/v1/events", content=bomb_1gib, headers=GZ_NDJSON)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 413, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    # The limit is 10 MiB; the bomb is 1 GiB. Reading stops at the limit.
    assert peak < 64 * MiB, f"peak {peak / MiB:.0f} MiB"


def test_single_member_bomb_is_refused(client: TestClient) -> None:
    r = client.post("/v1/events", content=zeros_member(64 * MiB), headers=GZ_NDJSON)
    assert r.status_code == 413


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (gzip.compress(ndjson(20))[:-30], 415),  # cut off: must not pass for fewer events
        (b"\x1f\x8b\x08\x00garbage-garbage-garbage", 415),
        (b"not gzip at all", 415),
    ],
    ids=["truncated", "corrupt", "not-gzip"],
)
def test_broken_gzip_is_refused(client: TestClient, body: bytes, status: int) -> None:
    r = client.post("/v1/events", content=body, headers=GZ_NDJSON)
    assert r.status_code == status, r.text


def test_unknown_content_encoding_is_415(client: TestClient) -> None:
    headers = {**GZ_NDJSON, "content-encoding": "br"}
    assert client.post("/v1/events", content=b"x", headers=headers).status_code == 415
