"""An incident as a MISP event (the JSON that MISP's `events/add` and file import take)."""

from __future__ import annotations

import uuid
from typing import Any

from service.sharing.content import Content
from service.sharing.tlp import Tlp, misp_tag

_NAMESPACE = uuid.UUID("7d0c1f3e-9a4b-4e55-8c21-5b3f6a9e0d42")
# MISP threat levels: 1 high, 2 medium, 3 low, 4 undefined.
_THREAT = {"critical": "1", "high": "1", "medium": "2", "low": "3", "info": "4"}
# MISP analysis: 0 initial, 1 ongoing, 2 completed.
_ANALYSIS = {"open": "0", "acknowledged": "1", "contained": "1", "resolved": "2",
             "closed": "2", "false_positive": "2", "duplicate": "2"}  # fmt: skip
# MISP distribution: 0 your organisation only, 1 this community only.
_DISTRIBUTION = {Tlp.clear: "1", Tlp.green: "1", Tlp.amber: "0", Tlp.amber_strict: "0"}


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "|".join(parts)))


def event(content: Content, *, producer: str) -> dict[str, Any]:
    inc = content.incident
    tags = [{"name": misp_tag(content.tlp)}]
    tags += [{"name": f'misp-galaxy:{t.source}="{t.external_id}"'} for t in content.techniques]
    if inc.category:
        tags.append({"name": f'custody:category="{inc.category.value}"'})
    attributes: list[dict[str, Any]] = []

    def add(kind: str, category: str, value: str, comment: str, to_ids: bool) -> None:
        attributes.append({
            "uuid": _uuid(producer, inc.id, kind, value), "type": kind, "category": category,
            "value": value, "to_ids": to_ids, "comment": comment,
        })  # fmt: skip

    for ip in content.ips:
        add("ip-src", "Network activity", ip, "source address in the evidence", True)
    for agent in content.user_agents:
        add("user-agent", "Network activity", agent, "user agent in the evidence", False)
    for digest in content.api_key_digests:
        add("sha256", "Other", digest, "SHA-256 of an API key id used (never the key)", False)
    return {
        "Event": {
            "uuid": _uuid(producer, inc.id),
            "info": f"{inc.id}: {inc.title}",
            "date": (inc.first_seen or inc.opened_at).date().isoformat(),
            "threat_level_id": _THREAT[inc.severity.value],
            "analysis": _ANALYSIS[inc.status.value],
            "distribution": _DISTRIBUTION[content.tlp],
            "Orgc": {"name": producer},
            "Tag": tags,
            "Attribute": attributes,
        }
    }
