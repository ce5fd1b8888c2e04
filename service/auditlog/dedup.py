"""Optional content dedup for id-less events of chosen sources (log forwarders that
retry a whole chunk whose answer they lost, like Fluent Bit and Vector).

An id-less event of such a source gets the id `content:<sha256 prefix>:<window>`: its
content hash and the number of the `window_seconds`-long period it arrived in. The same
content arriving again in that period or the next one is a duplicate (the previous
period's id is looked up too), so a retry is caught whenever it comes within one window
and always within two. Two genuinely distinct events with identical content (time,
actor, action, resource, attributes) in that span are stored once: hence opt-in, per
source.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.auditlog.chain import existing_ids, lock_head
from service.auditlog.prepare import Prepared


@dataclass(frozen=True)
class ContentDedup:
    sources: frozenset[str]  # "*" for every source
    window_seconds: int

    def applies(self, source: str) -> bool:
        return "*" in self.sources or source in self.sources


def assign_content_ids(
    session: Session, events: list[Prepared], dedup: ContentDedup
) -> tuple[list[Prepared], int]:
    """Give the id-less events of dedup sources their content ids; drop (and count) the
    ones already stored in the previous window. Takes the chain-head lock first, so a
    concurrent retry on another replica cannot slip between lookup and insert."""
    chosen = [e for e in events if e.event_id is None and dedup.applies(e.source)]
    if not chosen:
        return events, 0
    lock_head(session)
    period = int(time.time() // dedup.window_seconds)
    previous: dict[tuple[str, str], Prepared] = {}
    for event in chosen:
        event.event_id = f"content:{event.content_hash[:40]}:{period}"
        previous[(event.source, f"content:{event.content_hash[:40]}:{period - 1}")] = event
    found = existing_ids(session, list(previous))
    dropped = {id(previous[key]) for key in found if key in previous}
    return [e for e in events if id(e) not in dropped], len(dropped)
