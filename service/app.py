"""The FastAPI application, wired explicitly from settings. No work at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine

from service import docs, openapi, problems
from service.auditlog.api import router as log_router
from service.auditlog.turns import ingest_turns
from service.auth.api import router as token_router
from service.auth.ratelimit import make_limiter
from service.auth.throttle import FailureThrottle, ThrottleFlusher
from service.availability import WriteHealth
from service.config import Settings
from service.console.app import install as install_console
from service.db import make_engine, make_sessionmaker
from service.evidence.api import router as evidence_router
from service.evidence.replay_api import router as replay_router
from service.health import router as health_router
from service.holds.api import router as holds_router
from service.improvements.api import router as improvements_router
from service.incidents.api import entities_router
from service.incidents.api import router as incidents_router
from service.incidents.runbook_api import router as incident_runbook_router
from service.logging import configure_logging
from service.metrics import Metrics
from service.middleware import RequestContext
from service.observability import DatabaseCollector
from service.otlp.api import router as otlp_router
from service.rules.api import router as rules_router
from service.runbooks.api import router as runbooks_router
from service.search.api import router as search_router
from service.sharing.api import router as sharing_router
from service.snoozes.api import router as snoozes_router
from service.worker import InProcessWorker, build_tasks


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    engine = engine or make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if settings.background_in_process:
            worker = InProcessWorker(build_tasks(settings), app.state.sessionmaker)
            worker.start()
        app.state.worker = worker
        flusher = ThrottleFlusher(
            app.state.auth_throttle, app.state.sessionmaker, settings.auth_throttle_flush_seconds
        )
        flusher.start()
        try:
            yield
        finally:
            flusher.close()  # before the engine goes: the last counts reach the log
            if worker is not None:
                worker.close()
            engine.dispose()

    app = FastAPI(
        title="Custody",
        version="0.1.0",
        summary="Tamper-evident audit log and incident response for AI systems",
        lifespan=lifespan,
        docs_url=None,  # served offline by service.docs
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.metrics = Metrics()
    app.state.ingest_turns = ingest_turns(settings, engine)
    app.state.metrics.registry.register(
        DatabaseCollector(app.state.sessionmaker, settings.signing_key_path)
    )
    app.state.limiter = make_limiter(engine, "api", per_minute=settings.rate_limit_per_minute)
    app.state.ingest_limiter = make_limiter(
        engine, "ingest", per_minute=settings.ingest_rate_limit_per_minute
    )
    app.state.auth_throttle = FailureThrottle(
        per_minute=settings.auth_failures_per_minute, burst=settings.auth_failure_burst
    )
    app.state.write_health = WriteHealth(hold=settings.unavailable_retry_after)

    problems.install(app)
    app.add_middleware(RequestContext)
    for router in (
        health_router,
        log_router,
        otlp_router,
        token_router,
        evidence_router,
        replay_router,
        incidents_router,
        entities_router,
        runbooks_router,
        incident_runbook_router,
        rules_router,
        search_router,
        holds_router,
        snoozes_router,
        improvements_router,
        sharing_router,
    ):
        app.include_router(router)
    docs.install(app)
    openapi.install(app)
    install_console(app)
    return app
