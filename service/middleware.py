"""Pure ASGI middleware: a request id on every log line and response, one access line."""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("custody.access")


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = incoming or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status["code"],
                ms=round(elapsed * 1000, 2),
            )
            _observe(scope, status["code"], elapsed)
            structlog.contextvars.clear_contextvars()


def _observe(scope: Scope, status: int, seconds: float) -> None:
    """Latency per route template (`/v1/incidents/{incident_id}`), never per raw path:
    ids in paths would make one time series per incident."""
    metrics = getattr(getattr(scope.get("app"), "state", None), "metrics", None)
    route = scope.get("route")
    if metrics is None:
        return
    template = getattr(route, "path", None) or "unmatched"
    metrics.request_seconds.labels(scope["method"], template, str(status)).observe(seconds)
