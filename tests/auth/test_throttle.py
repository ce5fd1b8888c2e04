"""Failed authentications are throttled per client address (429 + Retry-After), and every
one of them is accounted for in the log: the attack of issue 12 sent 300 bad tokens and
found 10 in the log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from service.app import create_app
from service.auth.schemas import Scope
from service.auth.throttle import FailureThrottle
from service.config import Settings

ATTACKER = ("198.51.100.66", 40000)
NEIGHBOUR = ("203.0.113.5", 40000)


def _failures(settings: Settings, admin: str) -> tuple[int, int, list[dict[str, Any]]]:
    """(individual failure records, throttled attempts counted, throttled records) read
    back through a fresh server."""
    app = create_app(settings)
    try:
        with TestClient(app, client=NEIGHBOUR) as c:
            c.headers["Authorization"] = f"Bearer {admin}"
            items = c.get("/v1/events", params={"source": "custody", "limit": 1000}).json()
    finally:
        app.state.engine.dispose()
    events = items["items"]
    failed = [e for e in events if e["action"] == "auth.login.failure"]
    throttled = [e for e in events if e["action"] == "auth.login.throttled"]
    assert all(e["actor"]["ip"] == ATTACKER[0] for e in failed + throttled)
    return len(failed), sum(e["attributes"]["count"] for e in throttled), throttled


def test_every_failed_authentication_is_throttled_and_accounted_for(
    app: Any, settings: Settings, make_token: Callable[..., str]
) -> None:
    admin = make_token(Scope.admin)
    # The default budget (10 at once, then 30 a minute) with a slower refill, so the
    # count below does not depend on how fast this machine sends 300 requests.
    app.state.auth_throttle = FailureThrottle(per_minute=1, burst=10)
    codes: list[int] = []
    with TestClient(app, client=ATTACKER, raise_server_exceptions=False) as attacker:
        for n in range(300):
            r = attacker.get("/v1/events", headers={"Authorization": f"Bearer cus_x_{n:043d}"})
            codes.append(r.status_code)
            if r.status_code == 429:
                assert r.headers["content-type"] == "application/problem+json"
                assert int(r.headers["retry-after"]) >= 1
        # Over its budget, the address gets no answer on a token, even a valid one.
        blocked = attacker.get("/v1/events", headers={"Authorization": f"Bearer {admin}"})
        assert blocked.status_code == 429
        # Another address is not affected.
        with TestClient(app, client=NEIGHBOUR) as neighbour:
            ok = neighbour.get("/v1/events", headers={"Authorization": f"Bearer {admin}"})
            assert ok.status_code == 200
    # Leaving the client stops the server: the last counts are flushed to the log.
    evaluated = codes.count(401)
    assert codes[:10] == [401] * 10  # the burst
    assert evaluated == 10 and codes.count(429) == 290
    failed, counted, throttled = _failures(settings, admin)
    assert failed == evaluated
    assert counted == 300 - evaluated + 1  # the refused valid token counts too
    assert throttled[0]["outcome"] == "denied"
    assert throttled[0]["attributes"]["routes"] == {"/v1/events": counted}


def test_throttled_counts_are_flushed_while_running(
    app: Any, settings: Settings, make_token: Callable[..., str]
) -> None:
    admin = make_token(Scope.admin)
    throttle = app.state.auth_throttle
    with TestClient(app, client=ATTACKER, raise_server_exceptions=False) as attacker:
        for _ in range(15):
            attacker.get("/v1/events", headers={"Authorization": "Bearer nope"})
        refused = throttle.pending()
        assert refused >= 1
        assert throttle.flush(app.state.sessionmaker) == refused  # what the timer does
        assert throttle.pending() == 0
    failed, counted, _ = _failures(settings, admin)
    assert failed + counted == 15
