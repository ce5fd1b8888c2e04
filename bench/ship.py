"""Shipper benchmark: `custody ship` versus posting the same batches directly.

    .venv/bin/python bench/ship.py [--events 500000] [--batch 1000] [--backend sqlite]

Writes an NDJSON file of realistic events, then, each against a fresh database and its
own `custody serve` process (background loops off, as in bench/ingest.py):
(1) the baseline: the file cut into the same batches, held in memory and posted with
httpx in a tight loop on one connection; (2) `custody ship FILE` as a user runs it
(a subprocess: its start-up, reading, detection and retries policy included). Prints both
rates and their ratio; the issue's target is >= 0.8 (the shipper is not the bottleneck).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ACTIONS, live_server, make_token, rate, scratch_database

REPO = Path(__file__).resolve().parent.parent


def write_events(path: Path, n: int, *, seed: int = 11) -> int:
    """Stream n events to an NDJSON file without holding them; returns the byte size."""
    rng = random.Random(seed)
    with path.open("wb") as f:
        for i in range(n):
            f.write(
                orjson.dumps(
                    {
                        "id": f"evt-{i:09d}",
                        "time": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00.{i % 1000:03d}Z",
                        "source": "inference-gateway",
                        "action": rng.choice(ACTIONS),
                        "outcome": "denied" if rng.random() < 0.05 else "success",
                        "actor": {
                            "type": "user",
                            "id": f"user{rng.randrange(500)}@example.com",
                            "ip": f"203.0.113.{rng.randrange(255)}",
                            "user_agent": "openai-python/1.54.0",
                        },
                        "resource": {"type": "model", "id": f"llm-{rng.randrange(20)}"},
                        "request_id": f"req-{rng.getrandbits(64):016x}",
                        "attributes": {
                            "tokens_in": rng.randrange(4000),
                            "tokens_out": rng.randrange(1000),
                            "region": "eu-west-1",
                        },
                    }
                )
                + b"\n"
            )
    return path.stat().st_size


def batches_of(path: Path, size: int) -> list[bytes]:
    with path.open("rb") as f:
        lines = f.readlines()
    return [b"".join(lines[i : i + size]) for i in range(0, len(lines), size)]


def verify(base: str, token: str, expected: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    report = httpx.get(f"{base}/v1/log/verify", headers=headers, timeout=600).json()
    assert report["ok"], report
    assert report["checked"] >= expected, report


def direct(url: str, batches: list[bytes], n: int) -> float:
    token = make_token(url)
    with live_server(url, CUSTODY_RUN_BACKGROUND="false") as server:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
            started = time.perf_counter()
            for body in batches:
                client.post("/v1/events", content=body).raise_for_status()
            elapsed = time.perf_counter() - started
        verify(server.url, token, n)
    return elapsed


def shipped(url: str, path: Path, batch: int, n: int) -> float:
    token = make_token(url)
    with live_server(url, CUSTODY_RUN_BACKGROUND="false") as server:
        env = {**os.environ, "CUSTODY_URL": server.url, "CUSTODY_TOKEN": token}
        command = [
            sys.executable,
            "-m",
            "service.cli",
            "ship",
            str(path),
            "--batch-size",
            str(batch),
        ]
        started = time.perf_counter()
        done = subprocess.run(
            command, env=env, cwd=REPO, capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"custody ship failed ({done.returncode}):\n{done.stderr}")
        assert f"{n} events shipped: {n} new" in done.stdout, done.stdout
        verify(server.url, token, n)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.ndjson"
        size = write_events(path, args.events)
        print(
            f"{args.events:,} events, {size / 1e6:.0f} MB NDJSON, batches of {args.batch}, {args.backend}"
        )
        batches = batches_of(path, args.batch)
        with scratch_database(args.backend) as url:
            base = direct(url, batches, args.events)
        del batches
        print(f"  direct batch poster {rate(args.events, base)}  ({base:.1f}s)", flush=True)
        with scratch_database(args.backend) as url:
            ship = shipped(url, path, args.batch, args.events)
        print(
            f"  custody ship        {rate(args.events, ship)}  ({ship:.1f}s, process start-up included)"
        )
        print(f"  ratio ship/direct   {base / ship:.2f}  (target >= 0.8)")


if __name__ == "__main__":
    main()
