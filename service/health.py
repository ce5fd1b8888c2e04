"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from service.auth.deps import authenticate_request, public
from service.auth.errors import Forbidden
from service.auth.schemas import GRANTS, Scope
from service.availability import probe, unavailable_reason
from service.evidence.guard import CheckpointRefused, check_database
from service.migrate import is_up_to_date

router = APIRouter(tags=["health"])


@router.get("/healthz", dependencies=[Depends(public())])
def healthz() -> dict[str, str]:
    """The process is alive and answering; says nothing about the database."""
    return {"status": "ok"}


@router.get("/readyz", dependencies=[Depends(public())])
def readyz(request: Request) -> JSONResponse:
    """Can this process take writes now: the database answers and accepts a write (see
    service.availability.probe), it is migrated, and no write failed for an outage in
    the last `unavailable_retry_after` seconds. Recovers by itself."""
    state = request.app.state
    settings = state.settings
    reason = state.write_health.recent_failure()
    if reason is None:
        try:
            reason = probe(state.engine, settings.min_free_disk_bytes)
            if reason is None and not is_up_to_date(state.engine):
                reason = "database not migrated: run custody db upgrade"
        except Exception as exc:
            reason = unavailable_reason(exc) or str(exc)[:200]
    if reason is not None:
        return JSONResponse(
            {"status": "unavailable", "reason": reason},
            status_code=503,
            headers={"Retry-After": str(settings.unavailable_retry_after)},
        )
    # The log no longer extends what was signed: serving proofs and exports from it
    # would hand out a forgery, so the instance is not ready until someone looks.
    with request.app.state.sessionmaker() as session:
        try:
            finding = check_database(session, request.app.state.settings.signing_key_path)
        except CheckpointRefused as exc:  # an unreadable state file
            finding = exc.detail
    if finding is not None:
        return JSONResponse({"status": "degraded", "reason": finding}, status_code=503)
    return JSONResponse({"status": "ready"})


def _metrics_scope(request: Request) -> None:
    if request.app.state.settings.metrics_open:
        return
    principal = authenticate_request(request)
    if Scope.read not in GRANTS[principal.scope]:
        raise Forbidden("/metrics needs the read scope")


_metrics_scope.custody_scope = "read-unless-open"  # type: ignore[attr-defined]


@router.get("/metrics", dependencies=[Depends(_metrics_scope)])
def metrics(request: Request) -> Response:
    state = request.app.state
    with state.sessionmaker() as session:
        seq = session.execute(text("SELECT seq FROM log_head WHERE id = 1")).scalar_one()
    state.metrics.log_head_seq.set(seq)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
