"""A small rule pack with one rule per correlation type, and events that fire each."""

from __future__ import annotations

from typing import Any

from tests.rules.conftest import at


def _base(name: str, rid: str, detection: str, extra: str = "") -> str:
    return (
        f"title: {name}\nid: {rid}\nname: {name}\nlevel: low\nlogsource: {{product: custody}}\n"
        f"{extra}detection:\n{detection}\n"
    )


def _corr(name: str, rid: str, body: str) -> str:
    return f"title: {name}\nid: {rid}\nname: {name}\nlevel: high\ncorrelation:\n{body}\n"


DENIED = _base(
    "denied",
    "00000000-0000-4000-8000-000000000001",
    "  sel: {action: model.invoke, outcome: denied}\n  condition: sel",
)
DOWNLOAD = _base(
    "download",
    "00000000-0000-4000-8000-000000000002",
    "  sel: {action: model.weights.download}\n  condition: sel",
)
GRANT = _base(
    "grant",
    "00000000-0000-4000-8000-000000000003",
    "  sel: {action: model.permission.grant}\n  condition: sel",
)
FAILURE = _base(
    "login_failure",
    "00000000-0000-4000-8000-000000000004",
    "  sel: {action: auth.login.failure}\n  condition: sel",
)
KEY = _base(
    "key_created",
    "00000000-0000-4000-8000-000000000005",
    "  sel: {action: apikey.create}\n  condition: sel",
)

PACK = {
    "event_count.yml": DENIED + "---\n" + _corr(
        "denied_burst", "00000000-0000-4000-8000-000000000011",
        "  type: event_count\n  rules: [denied]\n  group-by: [actor.id]\n"
        "  timespan: 1m\n  condition: {gte: 3}"),
    "value_count.yml": DOWNLOAD + "---\n" + _corr(
        "many_models", "00000000-0000-4000-8000-000000000012",
        "  type: value_count\n  rules: [download]\n  group-by: [actor.id]\n"
        "  timespan: 1h\n  condition: {gte: 3, field: resource.id}"),
    "temporal_ordered.yml": GRANT + "---\n" + _corr(
        "grant_then_download", "00000000-0000-4000-8000-000000000013",
        "  type: temporal_ordered\n  rules: [grant, download]\n  group-by: [grantee]\n"
        "  timespan: 10m\n  aliases:\n    grantee:\n      grant: attributes.grantee\n"
        "      download: actor.id"),
    "temporal.yml": FAILURE + "---\n" + KEY + "---\n" + _corr(
        "failure_and_key", "00000000-0000-4000-8000-000000000014",
        "  type: temporal\n  rules: [login_failure, key_created]\n  group-by: [actor.id]\n"
        "  timespan: 5m"),
    "first_seen.yml": _base(
        "first_download", "00000000-0000-4000-8000-000000000015",
        "  sel: {action: model.weights.download, actor.type: user}\n  condition: sel",
        "custom:\n  first_seen: {fields: [actor.id, resource.id], history: 30d}\n"),
}  # fmt: skip


def ev(seconds: float, action: str, actor: str, **extra: Any) -> dict[str, Any]:
    return {
        "time": at(seconds),
        "source": "gateway",
        "action": action,
        "outcome": extra.pop("outcome", "success"),
        "actor": {"type": extra.pop("actor_type", "user"), "id": actor},
        "resource": {"type": "model", "id": extra.pop("model", "llm")},
        **({"attributes": extra} if extra else {}),
    }


# rule name -> events that make it fire exactly once (one incident), in event-time order.
SCENARIOS: dict[str, list[dict[str, Any]]] = {
    "denied_burst": [ev(i * 10, "model.invoke", "mallory", outcome="denied") for i in range(4)],
    "many_models": [
        ev(i * 60, "model.weights.download", "eve", actor_type="service", model=f"m{i}")
        for i in range(3)
    ],
    "grant_then_download": [
        ev(0, "model.permission.grant", "admin", grantee="bob", model="secret"),
        ev(120, "model.weights.download", "bob", actor_type="service", model="secret"),
    ],
    "failure_and_key": [
        ev(0, "auth.login.failure", "carol", outcome="failure"),
        ev(100, "apikey.create", "carol"),
    ],
    "first_download": [
        ev(0, "model.weights.download", "dave", model="llm"),
        ev(30, "model.weights.download", "dave", model="llm"),
    ],
}
