"""Scopes on every route, token lifecycle, audited reads, rate limits."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest
import structlog
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.auditlog.models import LogRecord
from service.auth.deps import declared_scope
from service.auth.schemas import Scope
from tests.conftest import event

# For each scope a token holds, the route scopes it may use (DESIGN.md, issue 3).
MAY_USE = {
    "ingest": {"ingest"},
    "read": {"read"},
    "respond": {"read", "respond"},
    "admin": {"ingest", "read", "respond", "admin"},
}


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """APIRoutes of an app, also inside included routers (FastAPI >= 0.160 wraps them)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(api_routes(route.original_router.routes))
    return found


def route_scopes(app: Any) -> dict[tuple[str, str], str]:
    """Every (method, path) of the app with the scope its dependencies declare."""
    found: dict[tuple[str, str], str] = {}
    for route in api_routes(app.routes):
        scopes = {
            s for dep in route.dependant.dependencies if (s := declared_scope(dep.call)) is not None
        }
        for method in route.methods:
            found[(method, route.path)] = ",".join(sorted(scopes))
    return found


def test_every_route_declares_exactly_one_scope(app: Any) -> None:
    scopes = route_scopes(app)
    assert scopes, "no routes found"
    missing = sorted(k for k, v in scopes.items() if not v or "," in v)
    assert not missing, f"routes without exactly one declared scope: {missing}"


def _fill_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_scope_matrix(client: TestClient, app: Any, make_token: Any) -> None:
    """Each token scope against each route: allowed (anything but 401/403), or 403."""
    tokens = {s.value: make_token(s) for s in Scope}
    for (method, path), needed in sorted(route_scopes(app).items()):
        # Console routes authenticate by session cookie: tests/console checks their scopes.
        if needed in {"public", "read-unless-open"} or method == "HEAD":
            continue
        if needed.startswith("console:"):
            continue
        url = _fill_path(path)
        anonymous = client.request(method, url, headers={"Authorization": ""})
        assert anonymous.status_code == 401, (method, path)
        for held, token in tokens.items():
            r = client.request(method, url, headers={"Authorization": f"Bearer {token}"})
            allowed = needed in MAY_USE[held]
            if allowed:
                assert r.status_code not in (401, 403), (method, path, held, r.text)
            else:
                assert r.status_code == 403, (method, path, held, r.status_code)
                assert r.headers["content-type"].startswith("application/problem+json")


def test_public_and_metrics_routes(client: TestClient, app: Any, make_token: Any) -> None:
    assert client.get("/healthz", headers={"Authorization": ""}).status_code == 200
    assert client.get("/readyz", headers={"Authorization": ""}).json() == {"status": "ready"}
    assert client.get("/metrics", headers={"Authorization": ""}).status_code == 401
    ingest = make_token(Scope.ingest)
    assert client.get("/metrics", headers={"Authorization": f"Bearer {ingest}"}).status_code == 403
    r = client.get("/metrics")
    assert r.status_code == 200
    assert "custody_events_ingested" in r.text
    app.state.settings.metrics_open = True
    assert client.get("/metrics", headers={"Authorization": ""}).status_code == 200


def test_bound_ingest_token_fills_and_enforces_its_source(
    client: TestClient, app: Any, make_token: Any
) -> None:
    token = {"Authorization": f"Bearer {make_token(Scope.ingest, source='inference-gateway')}"}
    r = client.post("/v1/events", json=[event(source=None), event()], headers=token)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 2
    r = client.post("/v1/events", json=[event(), event(source="model-registry")], headers=token)
    assert r.status_code == 403
    assert r.json()["errors"][0]["index"] == 1
    assert r.json()["errors"][0]["field"] == "source"
    r = client.post(
        "/v1/events?partial=true", json=[event(), event(source="model-registry")], headers=token
    )
    assert r.json()["accepted"] == 1
    assert r.json()["rejected"] == 1
    with app.state.sessionmaker() as s:
        sources = set(s.execute(select(LogRecord.source)).scalars())
    assert "model-registry" not in sources


def test_unknown_expired_and_revoked_tokens(client: TestClient, make_token: Any) -> None:
    expired = make_token(Scope.read, expires_in=timedelta(seconds=-1))
    r = client.get("/v1/events", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"

    victim = make_token(Scope.read)
    assert (
        client.get("/v1/events", headers={"Authorization": f"Bearer {victim}"}).status_code == 200
    )
    token_id = next(
        t["id"]
        for t in client.get("/v1/tokens").json()["items"]
        if t["scope"] == "read" and t["expires_at"] is None
    )
    assert client.post(f"/v1/tokens/{token_id}/revoke").status_code == 200
    r = client.get("/v1/events", headers={"Authorization": f"Bearer {victim}"})
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]

    # A guess with a real prefix but a wrong secret learns nothing about the token.
    forged = victim[: victim.rindex("_") + 1] + "x" * 43
    r = client.get("/v1/events", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
    assert r.json()["detail"] == "The token is not valid"
    r = client.get("/v1/events", headers={"Authorization": "Bearer nonsense"})
    assert r.json()["detail"] == "The token is not valid"


def test_token_lifecycle_is_logged(client: TestClient) -> None:
    created = client.post("/v1/tokens", json={"scope": "ingest", "source": "gw", "name": "gw"})
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert secret.startswith(created.json()["prefix"])
    assert "secret" not in client.get("/v1/tokens").json()["items"][0]
    client.post(f"/v1/tokens/{created.json()['id']}/revoke")
    client.get("/v1/events", headers={"Authorization": f"Bearer {secret}"})
    actions = [
        e["action"] for e in client.get("/v1/events", params={"source": "custody"}).json()["items"]
    ]
    assert actions.count("apikey.create") == 2  # the admin fixture's token and this one
    assert "apikey.delete" in actions
    assert "auth.login.failure" in actions


def test_a_source_bound_token_needs_the_ingest_scope(client: TestClient) -> None:
    r = client.post("/v1/tokens", json={"scope": "read", "source": "gw"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "source"


def test_token_secrets_never_reach_the_logs(client: TestClient, make_token: Any) -> None:
    buffer = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=buffer),
    )
    try:
        secret = make_token(Scope.read)
        client.get("/v1/events", headers={"Authorization": f"Bearer {secret}"})
        client.get("/v1/events", headers={"Authorization": f"Bearer {secret}x"})
        created = client.post("/v1/tokens", json={"scope": "read"}).json()["secret"]
    finally:
        structlog.reset_defaults()
    output = buffer.getvalue()
    assert "auth.failure" in output  # the capture works
    for s in (secret, created, client.headers["Authorization"].split()[1]):
        assert s not in output
        assert s[len("cst_12345678_") :] not in output  # the random part, even without prefix


def test_rate_limit_answers_429_then_recovers(
    client: TestClient, app: Any, make_token: Any
) -> None:
    from service.auth.ratelimit import RateLimiter

    now = [1000.0]  # a clock the test moves, so a slow machine cannot refill the bucket
    app.state.limiter = RateLimiter(per_minute=600, burst=3, clock=lambda: now[0])
    token = {"Authorization": f"Bearer {make_token(Scope.read)}"}
    codes = [client.get("/v1/log/head", headers=token).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    limited = client.get("/v1/log/head", headers=token)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    now[0] += 0.25  # 10 per second after the burst: two tokens back
    assert client.get("/v1/log/head", headers=token).status_code == 200


def test_reads_of_the_trail_are_audited_once_per_request(client: TestClient, app: Any) -> None:
    client.post("/v1/events", json=[event() for _ in range(50)])
    before = _audit_reads(app)
    client.get("/v1/events", params={"actor": "alice@example.com", "limit": 10})
    client.get("/v1/events/3")
    client.get("/v1/events", headers={"Accept": "application/x-ndjson"})
    reads = _audit_reads(app)[len(before) :]
    assert len(reads) == 3
    assert reads[0]["attributes"]["route"] == "/v1/events"
    assert reads[0]["attributes"]["query"] == {"actor": "alice@example.com", "limit": "10"}
    assert reads[0]["actor"]["type"] == "token"
    # reading the audit records themselves adds one record per request, not per row
    client.get("/v1/events", params={"action": "audit.read", "limit": 1000})
    assert len(_audit_reads(app)) == len(before) + 4


def _audit_reads(app: Any) -> list[dict[str, Any]]:
    from service.auditlog import queries
    from service.auditlog.schemas import EventFilters

    with app.state.sessionmaker() as s:
        return list(queries.stream(session=s, filters=EventFilters(action="audit.read")))


@pytest.mark.parametrize("header", ["", "Basic abc", "Bearer", "Bearer "])
def test_malformed_authorization_is_401(client: TestClient, header: str) -> None:
    r = client.get("/v1/log/head", headers={"Authorization": header})
    assert r.status_code == 401


def test_first_admin_token_from_the_cli_works_against_the_api(
    db_url: str, app: Any, client: TestClient
) -> None:
    from typer.testing import CliRunner

    from service.cli import app as cli

    result = CliRunner().invoke(
        cli,
        ["token", "create", "--scope", "admin", "--quiet"],
        env={"CUSTODY_DATABASE_URL": db_url},
    )
    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    assert secret.startswith("cst_")
    assert "\n" not in secret
    r = client.get("/v1/tokens", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200


def test_every_log_line_of_a_request_carries_its_request_id(client: TestClient) -> None:
    buffer = io.StringIO()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=buffer),
    )
    try:
        r = client.get(
            "/v1/events",
            headers={"Authorization": "Bearer cst_bad_token", "X-Request-ID": "rid-42"},
        )
    finally:
        structlog.reset_defaults()
    assert r.headers["x-request-id"] == "rid-42"
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    assert len(lines) >= 2  # the auth failure and the access line
    assert all('"request_id": "rid-42"' in line for line in lines)


def test_oversized_chunked_body_is_cut_off_before_it_is_read(
    app: Any, make_token: Any, client: TestClient
) -> None:
    """Driven at the ASGI level to count what the app pulls: 64 KiB over the limit, not 64 MiB."""
    import anyio

    app.state.settings.max_body_bytes = 1024 * 1024
    token = make_token(Scope.ingest)
    pulled = {"chunks": 0}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        pulled["chunks"] += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": pulled["chunks"] < 1024}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/events",
        "raw_path": b"/v1/events",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "app": app,
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
    }
    anyio.run(app, scope, receive, send)
    assert sent[0]["status"] == 413
    assert pulled["chunks"] <= 1024 * 1024 // 65536 + 1
