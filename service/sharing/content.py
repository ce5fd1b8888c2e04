"""What an incident export is made of, read once from the database for both formats."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from service.incidents import entity_store, queries
from service.incidents import evidence as evidence_mod
from service.incidents.models import Incident
from service.incidents.schemas import IncidentOut
from service.sharing.tlp import DEFAULT, Tlp

# A peer needs the pattern, not the whole trail: the first evidence events are enough
# for sightings (the bundle says how many there were in all).
MAX_SIGHTINGS = 200


@dataclass
class Technique:
    source: str  # mitre-atlas | mitre-attack
    external_id: str  # AML.T0024, T1562.008
    url: str


@dataclass
class Content:
    incident: IncidentOut
    tlp: Tlp
    ips: list[str] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)
    api_key_digests: list[str] = field(default_factory=list)
    actors: list[str] = field(default_factory=list)
    techniques: list[Technique] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def technique_of(tag: str) -> Technique | None:
    """`atlas.aml.t0024.002` and `attack.t1562.008` tags as technique references."""
    parts = tag.lower().split(".")
    if parts[0] == "atlas" and len(parts) >= 3 and parts[1] == "aml":
        tid = "AML." + ".".join(p.upper() for p in parts[2:])
        return Technique("mitre-atlas", tid, f"https://atlas.mitre.org/techniques/{tid}")
    if parts[0] == "attack" and len(parts) >= 2 and parts[1][:1] == "t" and parts[1][1:].isdigit():
        tid = ".".join(p.upper() for p in parts[1:])
        return Technique(
            "mitre-attack", tid, f"https://attack.mitre.org/techniques/{tid.replace('.', '/')}/"
        )
    return None


def api_key_digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def gather(*, session: Session, incident: Incident) -> Content:
    out = queries.one(session=session, incident=incident)
    content = Content(incident=out, tlp=Tlp(incident.tlp or DEFAULT))
    for entity in entity_store.of_incident(session=session, number=incident.number, limit=1000):
        kind, value = entity["type"], entity["value"]
        if kind == "ip":
            content.ips.append(value)
        elif kind == "user_agent":
            content.user_agents.append(value)
        elif kind == "api_key":
            content.api_key_digests.append(api_key_digest(value))
        elif kind == "actor":
            content.actors.append(value)
    content.techniques = [t for t in map(technique_of, out.tags) if t is not None]
    content.events, _ = evidence_mod.page(
        session=session, number=incident.number, after_seq=0, limit=MAX_SIGHTINGS
    )
    return content
