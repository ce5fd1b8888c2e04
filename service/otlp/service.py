"""Ingest an OTLP export request: map, validate and append, answering partial success."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.auditlog.parse import Parsed, parse_values
from service.auditlog.schemas import IngestResult, ItemError
from service.auditlog.service import IngestOptions, ingest
from service.auditlog.turns import Turn
from service.otlp.decode import Item
from service.otlp.genai import MappingError, to_event


@dataclass(frozen=True)
class OtlpResult:
    result: IngestResult
    received: int
    ignored: int

    def error_message(self, noun: str) -> str:
        """The OTLP `partial_success.error_message`: which records were refused and why."""
        errors = self.result.errors
        if not errors:
            return ""
        shown = "; ".join(f"{noun} {e.index}: {e.field}: {e.message}" for e in errors[:10])
        more = f" (and {len(errors) - 10} more errors)" if len(errors) > 10 else ""
        return f"{self.result.rejected} of {self.received} {noun}s rejected: {shown}{more}"


def ingest_items(
    *,
    session: Session,
    items: list[Item],
    options: IngestOptions,
    keep_non_genai: bool,
    turn: Turn | None = None,
) -> OtlpResult:
    """Store the GenAI records of `items`; bad ones are rejected one by one, never the
    whole request (OTLP partial success). The caller commits."""
    values: list[dict[str, object]] = []
    positions: list[int] = []
    errors: list[ItemError] = []
    ignored = 0
    for index, item in enumerate(items):
        try:
            event = to_event(item, keep_non_genai=keep_non_genai, bound_source=options.bound_source)
        except MappingError as exc:
            errors.append(ItemError(index=index, field=exc.field, message=str(exc)))
            continue
        if event is None:
            ignored += 1
            continue
        values.append(event)
        positions.append(index)
    checked = parse_values(values)
    parsed = Parsed(count=len(items), errors=errors)
    parsed.items = [(positions[i], event) for i, event in checked.items]
    parsed.errors += [e.model_copy(update={"index": positions[e.index]}) for e in checked.errors]
    result = ingest(session=session, parsed=parsed, options=options, turn=turn)
    return OtlpResult(result=result, received=len(items), ignored=ignored)
