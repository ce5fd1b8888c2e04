"""Replicas benchmark: combined ingest rate of 3 `custody serve` processes on one
PostgreSQL database against 1 process, same clients, same events, same run.

    .venv/bin/python bench/replicas.py [--events 60000] [--batch 500] [--clients 6]

Every append serializes on the chain head row, so replicas add HTTP parsing,
validation and hashing capacity but not commit capacity: the ratio says how much of
the work was outside the head lock on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import live_server, make_token, rate, realistic_events, scratch_database


def run(replicas: int, batches: list[bytes], clients: int) -> float:
    with scratch_database("postgresql") as url, contextlib.ExitStack() as stack:
        token = make_token(url)
        servers = [
            stack.enter_context(live_server(url, CUSTODY_RUN_BACKGROUND="false"))
            for _ in range(replicas)
        ]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}

        def post(worker: int) -> None:
            base = servers[worker % replicas].url  # clients spread like a load balancer
            with httpx.Client(base_url=base, headers=headers, timeout=300) as http:
                for body in batches[worker::clients]:
                    r = http.post("/v1/events", content=body)
                    r.raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(post, range(clients)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--clients", type=int, default=6)
    args = parser.parse_args()
    events = realistic_events(args.events)
    batches = [
        b"\n".join(orjson.dumps(e) for e in events[i : i + args.batch])
        for i in range(0, len(events), args.batch)
    ]
    one = run(1, batches, args.clients)
    three = run(3, batches, args.clients)
    print(f"1 replica : {rate(args.events, one)}")
    print(f"3 replicas: {rate(args.events, three)}")
    print(f"ratio 3/1 : {one / three:.2f}")


if __name__ == "__main__":
    main()
