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
    ("model.eval.adversarial", 1),
]
# On an ordinary day few logins fail and models are rarely deleted.
_RARER = {"auth.login.failure": 0.2, "model.delete": 0.05}
_PIPELINE_WORK = frozenset(
    {"dataset.write", "model.weights.download", "model.deploy", "model.eval.adversarial"}
)
_ADMIN_WORK = frozenset(
    {"model.permission.grant", "policy.update", "guardrail.update", "apikey.create"}
)
_OUTCOMES = ["success"] * 8 + ["failure", "denied"]
_DAILY_OUTCOMES = ["success", "failure", "denied"]


@dataclass(frozen=True, slots=True)
class BenchResult:
    events: int
    firings: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else float("inf")


def synthetic_events(*, count: int, seed: int = 0, noisy: bool = False) -> list[dict[str, Any]]:
    """~100 events/s from 500 actors against 40 models, times jittered up to 2 s.

    The default is an ordinary day on an AI platform: people invoke models from the
    internet; pipelines (`svc-*`) write training data, pull weights and deploy after an
    adversarial evaluation; admins change policy from the office network. Rules still
    fire on the deviations mixed in (a human writing a dataset, an admin change from a
    public address, denied-invocation bursts, new actor/model pairs), about one firing
    per 250 events. `noisy=True` draws every actor and address at random, which makes
    nearly every admin change and dataset write suspicious (one firing per ~13 events):
    the mix tests use to exercise many rules in few events."""
    rng = random.Random(seed)
    mix = (
        [(a, w) for a, w in _ACTIONS if a != "model.eval.adversarial"]
        if noisy
        else [(a, _RARER.get(a, w)) for a, w in _ACTIONS]
    )
    names = [a for a, _ in mix]
    weights = [w for _, w in mix]
    start = datetime(2026, 11, 30, tzinfo=UTC)
    events = []
    for seq in range(1, count + 1):
        moment = start + timedelta(milliseconds=seq * 10 - rng.randint(0, 2000))
        action = rng.choices(names, weights)[0]
        actor = rng.randrange(500) if noisy else _everyday_actor(rng, action)
        attributes: dict[str, Any] = {"tokens": rng.randint(1, 4000)}
        if action == "model.invoke" and rng.random() < (0.02 if noisy else 0.005):
            attributes["guardrail_verdict"] = "blocked"
        if rng.random() < 0.3:
            attributes["api_key_id"] = f"key-{actor}"
        service = actor < 50
        source = "aws.cloudtrail" if rng.random() < 0.1 else "inference-gateway"
        outcome = rng.choice(_OUTCOMES) if noisy else rng.choices(_DAILY_OUTCOMES, (97, 2, 1))[0]
        if noisy:
            ident, ip = f"user{actor}@example.com", f"203.0.{actor % 256}.{rng.randrange(1, 255)}"
        elif service:
            ident, ip = f"svc-{actor}", f"10.0.{actor}.{rng.randrange(1, 255)}"
        elif actor < 60 and rng.random() < 0.99:  # admins, at the office
            ident, ip = f"user{actor}@example.com", f"10.1.{actor}.{rng.randrange(1, 255)}"
        else:
            ident, ip = f"user{actor}@example.com", f"203.0.{actor % 256}.{rng.randrange(1, 255)}"
        events.append(
            {
                "seq": seq,
                "time": moment.isoformat().replace("+00:00", "Z"),
                "source": source,
                "action": action,
                "outcome": outcome,
                "actor": {"type": "service" if service else "user", "id": ident, "ip": ip},
                "resource": {"type": "model", "id": f"model-{_model(rng, actor, noisy)}"},
                "request_id": f"req-{seq}",
                "attributes": attributes,
            }
        )
    return events


def _model(rng: random.Random, actor: int, noisy: bool) -> int:
    """Any of the 40 models; a pipeline identity serves its own four."""
    if noisy or actor >= 10:
        return rng.randrange(40)
    return actor * 4 + rng.randrange(4)


def _everyday_actor(rng: random.Random, action: str) -> int:
    """Who does `action` on an ordinary day: actors 0-49 are pipelines, 50-59 admins."""
    if action in _PIPELINE_WORK and rng.random() < 0.995:
        return rng.randrange(10)  # a handful of pipeline identities
    if action in _ADMIN_WORK:
        return 50 + rng.randrange(10)
    return 60 + rng.randrange(440)


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
