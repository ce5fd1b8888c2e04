"""What the checkpointer's guard costs: signing a checkpoint with the consistency check
against the state file, against signing the same tree without it (the baseline), in the
same run on the same database. The check is O(log n) node reads, so the ratio should
stay near 1 whatever the log's size.

    python bench/checkpoint_guard.py [--events 50000] [--rounds 30] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient

from bench.common import make_token, realistic_events, scratch_database
from service.app import create_app
from service.config import Settings
from service.evidence.checkpoints import Signer, signer, store_checkpoint
from service.evidence.store import catch_up


def _sign(factory: object, signing: Signer) -> float:
    """Seconds to sign the current tree; rolled back, so every round signs the same."""
    with factory() as session:  # type: ignore[operator]
        tree = catch_up(session=session)
        started = time.perf_counter()
        store_checkpoint(session=session, signer=signing, tree=tree)
        spent = time.perf_counter() - started
        session.rollback()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with scratch_database(args.backend) as url, tempfile.TemporaryDirectory() as tmp:
        key_path = Path(tmp) / "key.pem"
        settings = Settings(database_url=url, run_background=False, signing_key_path=key_path)
        app = create_app(settings)
        token = make_token(url)
        events = realistic_events(args.events)
        with TestClient(app) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            half = args.events // 2
            for start in range(0, args.events, 5000):
                if start == half:  # a signed checkpoint half-way: what the guard extends
                    assert client.post("/v1/log/checkpoints").status_code == 201
                batch = events[start : start + 5000]
                assert client.post("/v1/events", json=batch).status_code == 200
        factory = app.state.sessionmaker
        guarded, bare = signer(key_path), Signer(signer(key_path).key, None)
        _sign(factory, bare)  # warm up: the tree is caught up and committed below
        with factory() as session:
            catch_up(session=session)
            session.commit()
        plain, checked = [], []
        for n in range(args.rounds):  # interleaved: other load on the machine hits both
            if n % 2:
                plain.append(_sign(factory, bare))
                checked.append(_sign(factory, guarded))
            else:
                checked.append(_sign(factory, guarded))
                plain.append(_sign(factory, bare))
        app.state.engine.dispose()
    base, guard = statistics.median(plain), statistics.median(checked)
    print(f"{args.backend}, {args.events:,} records, median of {args.rounds}")
    print(f"  sign, no guard (baseline)  {base * 1000:8.2f} ms")
    print(f"  sign, guarded              {guard * 1000:8.2f} ms   ratio {guard / base:5.2f}x")


if __name__ == "__main__":
    main()
