"""Verification in the server: replay a scope and keep its trailer."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.orm import Session

from service.config import Settings
from service.evidence.checkpoints import signing_key
from service.evidence.replay import replay
from service.evidence.schemas import Scope as EvidenceScope


def verify_trailer(
    *, session: Session, scope: EvidenceScope, settings: Settings
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Replay `scope` in the server (chain links, payload digests, inclusion in the
    signed tree); returns the trailer and the first records (for display)."""
    public_key = signing_key(settings.signing_key_path).public_key()
    shown: list[dict[str, Any]] = []
    trailer: dict[str, Any] = {}
    for chunk in replay(session=session, scope=scope, public_key=public_key):
        for line in chunk.splitlines():
            item = orjson.loads(line)
            if "trailer" in item:
                trailer = item["trailer"]
            elif len(shown) < 200:
                shown.append(item)
    return trailer, shown
