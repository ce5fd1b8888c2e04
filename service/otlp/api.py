"""`POST /otlp/v1/traces` and `/otlp/v1/logs`: OTLP/HTTP behind ingest tokens.

Point an OpenTelemetry SDK or Collector (otlphttp exporter) at `<custody>/otlp` with the
token in the `Authorization` header. Answers are in the request's encoding, with the
OTLP partial-success field when some records were refused.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from sqlalchemy.orm import Session

from service.auditlog.prepare import Limits
from service.auditlog.service import IngestOptions
from service.auditlog.turns import Turn
from service.auth.deps import require
from service.auth.schemas import Principal, Scope
from service.body import read_body
from service.config import Settings
from service.deps import get_deferred_session, get_settings
from service.errors import PayloadTooLarge
from service.otlp.decode import PROTOBUF, Item, log_records, parse_message, spans
from service.otlp.service import OtlpResult, ingest_items

router = APIRouter(prefix="/otlp/v1", tags=["otlp"])
_CONTENT: dict[str, Any] = {"content": {PROTOBUF: {}, "application/json": {}}}


def _store(
    request: Request,
    items: list[Item],
    principal: Principal,
    session: Session,
    settings: Settings,
    turn: Turn,
) -> OtlpResult:
    if len(items) > settings.max_events_per_request:
        raise PayloadTooLarge(
            f"{len(items)} records in one request; the limit is {settings.max_events_per_request}"
        )
    options = IngestOptions(
        limits=Limits(settings.max_attributes_bytes, settings.max_raw_bytes),
        partial=True,  # OTLP has no atomic batches: the sender is told what was refused
        bound_source=principal.source,
        origin=principal.token_id,
    )
    stored = ingest_items(
        session=session,
        items=items,
        options=options,
        keep_non_genai=settings.otlp_keep_non_genai,
        turn=turn,
    )
    turn.commit(session)  # before the response: an acknowledged span is a committed event
    metrics = request.app.state.metrics
    metrics.events_ingested.inc(stored.result.accepted)
    metrics.events_duplicate.inc(stored.result.duplicates)
    metrics.events_rejected.inc(stored.result.rejected)
    return stored


def _answer(message: Message, kind: str) -> Response:
    if kind == PROTOBUF:
        return Response(message.SerializeToString(), media_type=PROTOBUF)
    return Response(json_format.MessageToJson(message, indent=None), media_type="application/json")


@router.post("/traces", response_class=Response, responses={200: _CONTENT})
def post_traces(
    request: Request,
    principal: Principal = Depends(require(Scope.ingest)),
    body: bytes = Depends(read_body),
    session: Session = Depends(get_deferred_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    """OTLP traces: GenAI spans become events (others only with
    `CUSTODY_OTLP_KEEP_NON_GENAI=true`)."""
    export = ExportTraceServiceRequest()
    with request.app.state.ingest_turns.take() as turn:  # as on /v1/events
        kind = parse_message(body, request.headers.get("content-type"), export)
        stored = _store(request, spans(export), principal, session, settings, turn)
    answer = ExportTraceServiceResponse()
    if stored.result.rejected:
        answer.partial_success.CopyFrom(
            ExportTracePartialSuccess(
                rejected_spans=stored.result.rejected, error_message=stored.error_message("span")
            )
        )
    return _answer(answer, kind)


@router.post("/logs", response_class=Response, responses={200: _CONTENT})
def post_logs(
    request: Request,
    principal: Principal = Depends(require(Scope.ingest)),
    body: bytes = Depends(read_body),
    session: Session = Depends(get_deferred_session),
    settings: Settings = Depends(get_settings),
) -> Response:
    """OTLP logs: GenAI log records (events) become events."""
    export = ExportLogsServiceRequest()
    with request.app.state.ingest_turns.take() as turn:
        kind = parse_message(body, request.headers.get("content-type"), export)
        stored = _store(request, log_records(export), principal, session, settings, turn)
    answer = ExportLogsServiceResponse()
    if stored.result.rejected:
        answer.partial_success.CopyFrom(
            ExportLogsPartialSuccess(
                rejected_log_records=stored.result.rejected,
                error_message=stored.error_message("log record"),
            )
        )
    return _answer(answer, kind)
