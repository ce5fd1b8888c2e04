"""Entities (observables) of an event: who, from where, on what.

Pure: a stored event (the dict shape of `GET /v1/events/{seq}`) in, `(type, value)` pairs
out, each pair once. Types are a closed vocabulary so that a responder can pivot on them
(`?entity=ip:203.0.113.7`, `GET /v1/entities/ip/203.0.113.7`):

| type | from |
|---|---|
| `actor` | `actor.id`, and the principal an agent acted for (`attributes.on_behalf_of`) |
| `ip` | `actor.ip` |
| `api_key` | an actor or resource of type `api_key`; `attributes.api_key_id`, `.access_key_id` |
| `role` | `attributes.role_arn`, an actor of type `role` |
| `model`, `model_version` | a resource of type `model` (`id`, `id@version`) |
| `dataset` | a resource of type `dataset` |
| `resource` | any other resource, as `type:id` |
| `source` | `source` |
| `user_agent` | `actor.user_agent` |
| `artifact` | `attributes.` `sha256`, `artifact_sha256`, `digest`, `artifact_digest` |
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

TYPES = (
    "actor", "ip", "api_key", "role", "model", "model_version", "dataset", "resource",
    "source", "user_agent", "artifact",
)  # fmt: skip
MAX_VALUE = 512
_ARTIFACT_KEYS = ("sha256", "artifact_sha256", "digest", "artifact_digest")


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:MAX_VALUE]
    return None


def _pairs(event: Mapping[str, Any]) -> Iterator[tuple[str, str | None]]:
    actor = event.get("actor") or {}
    resource = event.get("resource") or {}
    attributes = event.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        attributes = {}
    actor_id = _text(actor.get("id"))
    yield "actor", actor_id
    yield "actor", _text(attributes.get("on_behalf_of"))
    yield "ip", _text(actor.get("ip"))
    yield "user_agent", _text(actor.get("user_agent"))
    if actor.get("type") == "api_key":
        yield "api_key", actor_id
    if actor.get("type") == "role":
        yield "role", actor_id
    yield "api_key", _text(attributes.get("api_key_id"))
    yield "api_key", _text(attributes.get("access_key_id"))
    yield "role", _text(attributes.get("role_arn"))
    kind, rid = _text(resource.get("type")), _text(resource.get("id"))
    if kind == "model" and rid:
        yield "model", rid
        version = _text(resource.get("version"))
        yield "model_version", f"{rid}@{version}" if version else None
    elif kind == "dataset":
        yield "dataset", rid
    elif kind == "api_key":
        yield "api_key", rid
    elif kind and rid:
        yield "resource", f"{kind}:{rid}"
    yield "source", _text(event.get("source"))
    for key in _ARTIFACT_KEYS:
        yield "artifact", _text(attributes.get(key))


def extract(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The event's entities, in a stable order, without duplicates or empty values."""
    seen: dict[tuple[str, str], None] = {}
    for kind, value in _pairs(event):
        if value is not None:
            seen.setdefault((kind, value), None)
    return list(seen)


def parse(spec: str) -> tuple[str, str]:
    """`ip:203.0.113.7` -> ("ip", "203.0.113.7"); the value may itself contain colons."""
    kind, sep, value = spec.partition(":")
    if not sep or kind not in TYPES or not value:
        raise ValueError(f"expected TYPE:VALUE with TYPE one of {', '.join(TYPES)}")
    return kind, value
