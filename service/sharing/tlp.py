"""Traffic Light Protocol 2.0 (FIRST) levels and their STIX 2.1 marking definitions."""

from __future__ import annotations

import enum
from typing import Any


class Tlp(enum.StrEnum):
    clear = "TLP:CLEAR"
    green = "TLP:GREEN"
    amber = "TLP:AMBER"
    amber_strict = "TLP:AMBER+STRICT"
    red = "TLP:RED"


DEFAULT = Tlp.amber

# The marking definitions published for TLP 2.0 in STIX 2.1, with the OASIS TLP 2.0
# extension; a peer's tools recognize them by id.
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
_IDS = {
    Tlp.clear: "94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.green: "bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.amber: "55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.amber_strict: "939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.red: "e828b379-4e03-4974-9ac4-e53a884c97c1",
}


def stix_marking(level: Tlp) -> dict[str, Any]:
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": f"marking-definition--{_IDS[level]}",
        "created": "2022-10-01T00:00:00.000Z",
        "name": level.value,
        "extensions": {
            TLP2_EXTENSION: {
                "extension_type": "property-extension",
                "tlp_2_0": level.value.removeprefix("TLP:").lower(),
            }
        },
    }


def misp_tag(level: Tlp) -> str:
    """The MISP `tlp` taxonomy tag (`tlp:amber+strict`)."""
    return level.value.lower()
