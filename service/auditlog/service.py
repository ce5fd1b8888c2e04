"""Ingest: parse, validate, prepare and append a request's events in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.auditlog.chain import append, read_head
from service.auditlog.dedup import ContentDedup, assign_content_ids
from service.auditlog.errors import EventConflict, InvalidEvents
from service.auditlog.parse import Parsed
from service.auditlog.prepare import Limits, Prepared, SourceForbidden, prepare
from service.auditlog.schemas import IngestResult, ItemError
from service.auditlog.turns import Turn
from service.db import begin_write
from service.errors import ServiceError
from service.logformat import SERVER_ORIGIN


class SourceNotAllowed(ServiceError):
    status = 403
    title = "Source not allowed for this token"


@dataclass(frozen=True)
class IngestOptions:
    limits: Limits
    #: Who submits the events: the ingest token's id, hashed into every record.
    origin: str
    partial: bool = False
    bound_source: str | None = None
    dedup: ContentDedup | None = None


def ingest(
    *, session: Session, parsed: Parsed, options: IngestOptions, turn: Turn | None = None
) -> IngestResult:
    """Store the valid events of `parsed`.

    Atomic unless `options.partial`: then any bad item raises and nothing is stored.
    The caller commits (`turn.commit` with a turn); the response must only be sent
    after that commit.
    """
    errors: list[ItemError] = list(parsed.errors)
    ready: list[Prepared] = []
    for index, event in parsed.items:
        outcome = prepare(
            index=index, event=event, limits=options.limits, bound_source=options.bound_source
        )
        if isinstance(outcome, ItemError):
            errors.append(outcome)
        else:
            ready.append(outcome)
    errors.sort(key=lambda e: e.index)

    if errors and not options.partial:
        bad = len({e.index for e in errors})
        if any(isinstance(e, SourceForbidden) for e in errors):
            raise SourceNotAllowed(
                f"{bad} of {parsed.count} events were refused; nothing was stored",
                errors=[e.model_dump() for e in errors],
            )
        raise InvalidEvents(
            f"{bad} of {parsed.count} events are invalid; nothing was stored",
            errors=[e.model_dump() for e in errors],
        )

    # Validation and hashing are done: only now take the write lock (SQLite) if the
    # caller has not already.
    if turn is not None:
        turn.write(session)
    else:
        begin_write(session)
    if not ready:
        _, head_hash = read_head(session)
        return IngestResult(
            accepted=0,
            duplicates=0,
            rejected=len({e.index for e in errors}),
            first_seq=None,
            last_seq=None,
            head_hash=head_hash,
            errors=errors,
        )
    # Ingest never writes server records, whatever calls it.
    assert options.origin, "origin must be the submitting token's id"
    assert options.origin != SERVER_ORIGIN, "origin must be the submitting token's id"
    deduplicated = 0
    if options.dedup is not None:
        ready, deduplicated = assign_content_ids(session, ready, options.dedup)
    appended = append(session=session, events=ready, origin=options.origin)
    if appended.conflicts:
        if not options.partial:
            raise EventConflict(
                f"{len(appended.conflicts)} events reuse an id with different content; "
                "nothing was stored",
                errors=[e.model_dump() for e in appended.conflicts],
            )
        # Partial mode: store the rest. Appending again is cheap and keeps one code path.
        conflicted = {e.index for e in appended.conflicts}
        errors.extend(appended.conflicts)
        errors.sort(key=lambda e: e.index)
        appended = append(
            session=session,
            events=[e for e in ready if e.index not in conflicted],
            origin=options.origin,
        )
    return IngestResult(
        accepted=appended.accepted,
        duplicates=appended.duplicates + deduplicated,
        rejected=len({e.index for e in errors}),
        first_seq=appended.first_seq,
        last_seq=appended.last_seq,
        head_hash=appended.head_hash,
        errors=errors,
    )
