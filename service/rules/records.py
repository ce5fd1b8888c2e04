"""Where a vendor's own record sits inside the original an adapter kept under `raw`.

Vendor-logsource rules name the vendor record's fields. Usually `raw` is that record; an
adapter that also accepts it wrapped keeps the wrapper as the original, and says here how
to find the record inside: EventBridge delivers a CloudTrail record as its `detail`.
Keyed by the event `source` the adapter writes, which a vendor rule's pipeline requires.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from service.adapters import cloudtrail

_UNWRAP: Mapping[str, Callable[[Mapping[str, Any]], Mapping[str, Any]]] = {
    cloudtrail.SOURCE: cloudtrail._unwrap,  # the adapter's own test: same record it read
}


def vendor_record(event: Mapping[str, Any]) -> Any:
    """The vendor record of an event (None when it has no `raw`)."""
    raw = event.get("raw")
    source = event.get("source")
    unwrap = _UNWRAP.get(source) if isinstance(source, str) else None
    if unwrap is not None and isinstance(raw, dict):
        return unwrap(raw)
    return raw
