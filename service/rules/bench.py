"""Throughput harness for the engine (used by benchmarks, not by timed tests)."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from service.rules.engine import Engine
from service.rules.model import Rule

_ACTIONS = [
    ("model.invoke", 60),
    ("model.read", 10),
    ("model.weights.download", 4),
    ("dataset.read", 8),
    ("dataset.write", 3),
    ("auth.login.success", 4),
    ("auth.login.failure", 2),
    ("apikey.create", 1),
    ("model.permission.grant", 1),
    ("policy.update", 1),
    ("model.deploy", 1),
    ("model.delete", 1),
    ("model.enumerate", 2),
    ("guardrail.update", 1),
]
_OUTCOMES = ["success"] * 8 + ["failure", "denied"]


@dataclass(frozen=True, slots=True)
class BenchResult:
    events: int
    firings: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else float("inf")


def synthetic_events(*, count: int, seed: int = 0) -> list[dict[str, Any]]:
    """A plausible mix: 500 actors, 40 models, ~100 events/s, times jittered up to 2 s."""
    rng = random.Random(seed)
    names = [a for a, _ in _ACTIONS]
    weights = [w for _, w in _ACTIONS]
    start = datetime(2026, 11, 30, tzinfo=UTC)
    events = []
    for seq in range(1, count + 1):
        moment = start + timedelta(milliseconds=seq * 10 - rng.randint(0, 2000))
        action = rng.choices(names, weights)[0]
        actor = rng.randrange(500)
        attributes: dict[str, Any] = {"tokens": rng.randint(1, 4000)}
        if action == "model.invoke" and rng.random() < 0.02:
            attributes["guardrail_verdict"] = "blocked"
        if rng.random() < 0.3:
            attributes["api_key_id"] = f"key-{actor}"
        events.append(
            {
                "seq": seq,
                "time": moment.isoformat().replace("+00:00", "Z"),
                "source": "aws.cloudtrail" if rng.random() < 0.1 else "inference-gateway",
                "action": action,
                "outcome": rng.choice(_OUTCOMES),
                "actor": {
                    "type": "service" if actor < 50 else "user",
                    "id": f"user{actor}@example.com",
                    "ip": f"203.0.{actor % 256}.{rng.randrange(1, 255)}",
                },
                "resource": {"type": "model", "id": f"model-{rng.randrange(40)}"},
                "request_id": f"req-{seq}",
                "attributes": attributes,
            }
        )
    return events


def measure(*, rules: Sequence[Rule], events: Sequence[dict[str, Any]]) -> BenchResult:
    """Run `events` through a fresh engine once; wall-clock time of the processing only."""
    engine = Engine(rules)
    firings = 0
    began = time.perf_counter()
    for event in events:
        firings += len(engine.process(event))
    return BenchResult(events=len(events), firings=firings, seconds=time.perf_counter() - began)


def incident_heavy(events: list[dict[str, Any]], *, every: int = 14) -> list[dict[str, Any]]:
    """The same mix with one incident-opening event per `every`: a guardrail deleted,
    each time a different one (distinct dedup groups, so each opens its own incident)."""
    out = []
    for i, event in enumerate(events):
        if i % every == every - 1:
            event = {
                **event,
                "action": "guardrail.delete",
                "outcome": "success",
                "resource": {"type": "guardrail", "id": f"guardrail-{i}"},
            }
        out.append(event)
    return out
