"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.api.st_hooks): how to put an NDJSON body
on the wire, which schemathesis does not know by itself."""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx: Any, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode()
