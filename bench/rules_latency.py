"""Latency from an ingest response to the incident being visible, embedded default.

    .venv/bin/python bench/rules_latency.py [--trials 100]

`custody serve` on SQLite runs the rules engine in-process; this builds the same app
(background loops on) around a fresh SQLite file, posts light traffic (20 events a
request, one of them a guardrail deletion that opens an incident) and polls the
database for the incident after each ingest response. Prints p50/p95/p99/max.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from service import migrate  # noqa: E402
from service.app import create_app  # noqa: E402
from service.auth.schemas import Scope  # noqa: E402
from service.auth.service import create_token  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import session_scope  # noqa: E402
from service.incidents.models import Incident  # noqa: E402
from service.rules.bench import synthetic_events  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    args = parser.parse_args()
    import logging

    logging.disable(logging.INFO)
    noise = [
        {k: v for k, v in e.items() if k not in ("seq", "time")}
        for e in synthetic_events(count=19 * args.trials, seed=5)
        if e["action"] in ("model.invoke", "dataset.read", "model.read")
    ]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/latency.db"
        migrate.upgrade(url)
        settings = Settings(
            database_url=url,
            run_background=True,
            rules_dir=ROOT / "rules",
            runbooks_dir=ROOT / "runbooks",
            signing_key_path=Path(tmp) / "key.pem",
            log_level="WARNING",
        )
        app = create_app(settings)
        factory = app.state.sessionmaker
        with session_scope(factory) as session:
            secret = create_token(session=session, scope=Scope.ingest).secret
        latencies: list[float] = []
        with TestClient(app) as client:
            client.headers["Authorization"] = f"Bearer {secret}"
            for trial in range(args.trials):
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                batch = [{**e, "time": now} for e in noise[trial * 19 : trial * 19 + 19]]
                batch.append(
                    {
                        "time": now,
                        "source": "inference-gateway",
                        "action": "guardrail.delete",
                        "outcome": "success",
                        "actor": {"type": "user", "id": "alice@example.com"},
                        "resource": {"type": "guardrail", "id": f"g-{trial}"},
                    }
                )
                client.post("/v1/events", json=batch).raise_for_status()
                sent = time.perf_counter()
                while True:
                    with session_scope(factory) as session:
                        seen = session.scalar(select(func.count()).select_from(Incident))
                    if seen and seen > trial:
                        break
                    time.sleep(0.002)
                latencies.append(time.perf_counter() - sent)
                time.sleep(0.05)  # light load: a request every ~50 ms
        app.state.engine.dispose()
    worst = sorted(range(len(latencies)), key=latencies.__getitem__)[-3:]
    print("slowest trials:", [(i, round(latencies[i] * 1000)) for i in worst])
    cuts = statistics.quantiles(latencies, n=100)
    print(f"trials {len(latencies)}: p50 {cuts[49] * 1000:.0f} ms, p95 {cuts[94] * 1000:.0f} ms, "
          f"p99 {cuts[98] * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms  (target p99 < 1000 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
