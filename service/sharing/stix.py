"""An incident as a STIX 2.1 bundle, built and checked with the `stix2` library."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import stix2

from service.sharing.content import Content
from service.sharing.tlp import stix_marking

# Stable ids: exporting the same incident twice gives the same object ids, so a peer's
# platform updates its copy instead of duplicating it.
_NAMESPACE = uuid.UUID("2f6b0c44-3b0e-4f4c-9a55-2d1b5f2b8a11")


def _id(kind: str, *parts: str) -> str:
    return f"{kind}--{uuid.uuid5(_NAMESPACE, '|'.join((kind, *parts)))}"


def _quote(value: str) -> str:
    """A STIX pattern string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def bundle(content: Content, *, producer: str) -> dict[str, Any]:
    inc = content.incident
    marking = stix2.v21.MarkingDefinition(**stix_marking(content.tlp))
    marks = {"object_marking_refs": [marking.id]}
    created = inc.opened_at.astimezone(UTC)
    identity = stix2.v21.Identity(
        id=_id("identity", producer), name=producer, identity_class="organization",
        created=created, modified=created, **marks,
    )  # fmt: skip
    common = {"created_by_ref": identity.id, "created": created, **marks}
    incident = stix2.v21.Incident(
        id=_id("incident", producer, inc.id),
        name=f"{inc.id}: {inc.title}",
        description=inc.description or inc.title,
        labels=[f"severity:{inc.severity.value}", f"status:{inc.status.value}"]
        + ([f"category:{inc.category.value}"] if inc.category else []),
        external_references=[{"source_name": "custody", "external_id": inc.id}],
        modified=inc.updated_at.astimezone(UTC),
        **common,
    )
    objects: list[Any] = [marking, identity, incident]

    def relate(source: str, kind: str, target: str) -> None:
        objects.append(stix2.v21.Relationship(
            id=_id("relationship", source, kind, target), source_ref=source,
            relationship_type=kind, target_ref=target, **common,
        ))  # fmt: skip

    for tech in content.techniques:
        pattern = stix2.v21.AttackPattern(
            id=_id("attack-pattern", tech.source, tech.external_id), name=tech.external_id,
            external_references=[{"source_name": tech.source, "external_id": tech.external_id,
                                  "url": tech.url}],
            **common,
        )  # fmt: skip
        objects.append(pattern)
        relate(incident.id, "related-to", pattern.id)

    first_seen = (inc.first_seen or inc.opened_at).astimezone(UTC)
    indicators: dict[str, str] = {}
    for kind, values, path in (
        ("ip", content.ips, "ipv4-addr:value"),
        ("user_agent", content.user_agents,
         "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'"),
        ("api_key", content.api_key_digests, "user-account:user_id"),
    ):  # fmt: skip
        for value in values:
            where = "ipv6-addr:value" if kind == "ip" and ":" in value else path
            shown = f"sha256:{value}" if kind == "api_key" else value
            indicator = stix2.v21.Indicator(
                id=_id("indicator", producer, inc.id, kind, value),
                name=f"{kind.replace('_', ' ')} seen in {inc.id}",
                pattern=f"[{where} = {_quote(shown)}]", pattern_type="stix",
                valid_from=first_seen, indicator_types=["malicious-activity"], **common,
            )  # fmt: skip
            indicators[value] = indicator.id
            objects.append(indicator)
            relate(indicator.id, "indicates", incident.id)

    # The evidence as observed data (addresses only, never payloads), with a sighting of
    # each indicator it matches.
    sightings: dict[str, list[str]] = {}
    for event in content.events:
        ip = (event.get("actor") or {}).get("ip")
        if not ip:
            continue
        at = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).astimezone(UTC)
        address = (stix2.v21.IPv6Address if ":" in ip else stix2.v21.IPv4Address)(value=ip)
        observed = stix2.v21.ObservedData(
            id=_id("observed-data", producer, inc.id, str(event["seq"])),
            first_observed=at, last_observed=at, number_observed=1,
            object_refs=[address.id], **common,
        )  # fmt: skip
        objects += [address, observed]
        if ip in indicators:
            sightings.setdefault(indicators[ip], []).append(observed.id)
    for indicator_id, observed_ids in sightings.items():
        objects.append(stix2.v21.Sighting(
            id=_id("sighting", indicator_id, inc.id), sighting_of_ref=indicator_id,
            observed_data_refs=observed_ids, count=len(observed_ids),
            where_sighted_refs=[identity.id], **common,
        ))  # fmt: skip
    unique = {o.id: o for o in objects}  # an address seen twice is one object
    made = stix2.v21.Bundle(objects=list(unique.values()), id=_id("bundle", producer, inc.id))
    text = made.serialize()
    stix2.parse(text, allow_custom=False)  # what a peer's parser will do; raises if invalid
    out: dict[str, Any] = json.loads(text)
    return out
