"""Replay archived ranges offline, from the bundles `custody archive` wrote.

Every bundle in the directory is verified with the code `custody verify-bundle` runs
(signature, hashes, payload digests, chain links, inclusion proofs, the consistency
anchor); the bundles must then chain into each other from seq 1 without a gap. Records
stream out as NDJSON in the shape of `custody replay`, then a trailer.
"""

from __future__ import annotations

import io
import zipfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from service.evidence.bundle import verify_bundle
from service.evidence.bundle_format import MANIFEST, RECORDS
from service.logformat import GENESIS_PREV_HASH


@dataclass(frozen=True, slots=True)
class _Bundle:
    path: Path
    first_seq: int
    last_seq: int


def _event(entry: dict[str, Any]) -> dict[str, Any]:
    """The event as `custody replay` prints it."""
    event = dict(entry["record"])
    event.pop("v", None)
    event["hash"] = entry["hash"]
    payload = entry.get("payload")
    if payload is None:
        event.update(attributes=None, raw=None, erased=True)
    else:
        event.update(attributes=payload["attributes"], raw=payload["raw"], erased=False)
    event["verified"] = True
    return event


def _entries(path: Path) -> Iterator[dict[str, Any]]:
    with zipfile.ZipFile(path) as archive, archive.open(RECORDS) as lines:
        for line in io.TextIOWrapper(lines, encoding="utf-8"):
            yield orjson.loads(line)


def replay_archive(
    directory: Path,
    public_key_pem: bytes,
    *,
    from_seq: int | None = None,
    to_seq: int | None = None,
) -> Iterator[bytes]:
    """NDJSON lines: the archived records in [from_seq, to_seq], then the trailer.
    Nothing is streamed from a bundle before every bundle verified and they chain."""
    failure: str | None = None
    bundles: list[_Bundle] = []
    paths = sorted(directory.glob("*.zip"))
    if not paths:
        failure = f"no bundles (*.zip) in {directory}"
    for path in paths:
        report = verify_bundle(path, public_key_pem)
        if not report.ok:
            failure = f"{path.name}: {report.failure}"
            break
        with zipfile.ZipFile(path) as archive:
            span = orjson.loads(archive.read(MANIFEST)).get("seq_range") or {}
        if not span:
            continue
        bundles.append(_Bundle(path, int(span["first"]), int(span["last"])))
    bundles.sort(key=lambda b: b.first_seq)
    if failure is None:
        failure = _continuity(bundles)
    count = 0
    if failure is None:
        for bundle in bundles:
            if (to_seq is not None and bundle.first_seq > to_seq) or (
                from_seq is not None and bundle.last_seq < from_seq
            ):
                continue
            chunk: list[bytes] = []
            for entry in _entries(bundle.path):
                seq = entry["record"]["seq"]
                if (from_seq is None or seq >= from_seq) and (to_seq is None or seq <= to_seq):
                    chunk.append(orjson.dumps(_event(entry)) + b"\n")
                    count += 1
                if len(chunk) >= 1000:
                    yield b"".join(chunk)
                    chunk = []
            yield b"".join(chunk)
    trailer = {
        "verified": failure is None,
        "count": count,
        "bundles": len(bundles),
        "first_seq": bundles[0].first_seq if bundles else None,
        "last_seq": bundles[-1].last_seq if bundles else None,
        "reason": failure,
        "archive": str(directory),
    }
    yield orjson.dumps({"trailer": trailer}) + b"\n"


def _continuity(bundles: list[_Bundle]) -> str | None:
    """The bundles must cover 1..last without a gap, each linking to the one before."""
    expected, prev = 1, GENESIS_PREV_HASH
    for bundle in bundles:
        if bundle.first_seq != expected:
            return f"gap: records {expected}..{bundle.first_seq - 1} are in no bundle"
        first = next(_entries(bundle.path))
        if first["record"]["prev_hash"] != prev:
            return f"{bundle.path.name}: seq {bundle.first_seq} does not link to seq {expected - 1}"
        last = deque(_entries(bundle.path), maxlen=1)[0]
        expected, prev = bundle.last_seq + 1, last["hash"]
    return None
