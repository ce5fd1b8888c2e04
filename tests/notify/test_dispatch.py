"""Notifications through the outbox: shapes and signatures as the providers document them,
ordering, retries, dead targets, and the log record of every attempt."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.auditlog.models import LogRecord
from service.db import session_scope
from service.notify.dispatcher import Dispatcher, status
from service.notify.models import OutboxRow
from service.notify.targets import TargetsFileError, load_targets
from tests.incidents.conftest import finish_required_steps, open_incident, patch
from tests.notify.receiver import Receiver, receiver

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def verify_standard_webhook(request: Any, secret: str, tolerance: int = 300) -> dict[str, Any]:
    """A receiver's check, written from the Standard Webhooks specification."""
    msg_id = request.headers["webhook-id"]
    timestamp = request.headers["webhook-timestamp"]
    assert abs(time.time() - int(timestamp)) <= tolerance, "stale or future timestamp"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{timestamp}.".encode() + request.body, hashlib.sha256).digest()
    ).decode()
    signatures = [s.split(",", 1) for s in request.headers["webhook-signature"].split(" ")]
    assert any(v == "v1" and hmac.compare_digest(sig, expected) for v, sig in signatures)
    return dict(request.json())


@contextmanager
def smtp_server(handler: Any) -> Iterator[int]:
    """A real SMTP server (aiosmtpd) on a port the OS picked; yields the port."""
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(handler), host="127.0.0.1", port=0)
    )
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def write_targets(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "targets.yml"
    path.write_text(text)
    return path


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drain(dispatcher: Dispatcher, sessions: Any, rounds: int = 20) -> None:
    for _ in range(rounds):
        if not dispatcher.run_once(sessions):
            return


def log_actions(sessions: Any, prefix: str) -> list[tuple[str, str, dict[str, Any]]]:
    from service.auditlog.queries import get_event

    with session_scope(sessions) as session:
        seqs = session.scalars(
            select(LogRecord.seq).where(LogRecord.action.like(f"{prefix}%")).order_by(LogRecord.seq)
        ).all()
        events = [get_event(session=session, seq=s) for s in seqs]
    return [(e["action"], e["outcome"], e["attributes"]) for e in events]


def resolve(client: TestClient, incident: dict[str, Any]) -> None:
    assert patch(client, incident, status="acknowledged").status_code == 200
    finish_required_steps(client, incident["id"])
    assert patch(client, incident, status="resolved").status_code == 200


def test_signed_webhook_receives_opened_then_resolved(
    client: TestClient, sessions: Any, hook: Receiver, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SOC_SECRET", SECRET)
    targets = load_targets(
        write_targets(
            tmp_path,
            f"targets:\n  - name: soc\n    type: webhook\n    url: {hook.url}\n"
            "    secret_env: SOC_SECRET\n",
        )
    )
    incident = open_incident(client, title="Weights pulled from <prod>", severity="high")
    client.post(f"/v1/incidents/{incident['id']}/comments", json={"body": "looking"})
    resolve(client, incident)
    dispatcher = Dispatcher(targets=targets, base_url="https://custody.example")
    drain(dispatcher, sessions)

    bodies = [verify_standard_webhook(r, SECRET) for r in hook.requests]
    # Default events: opened and resolved; the acknowledgement and comment notify nobody.
    assert [b["type"] for b in bodies] == ["incident.opened", "incident.resolved"]
    assert bodies[0]["incident"]["id"] == incident["id"]
    assert bodies[0]["incident"]["title"] == "Weights pulled from <prod>"
    assert bodies[1]["incident"]["status"] == "resolved"
    assert bodies[1]["incident"]["previous_status"] == "acknowledged"
    ids = [r.headers["webhook-id"] for r in hook.requests]
    assert len(set(ids)) == 2
    # Every delivery is in the log, after the change it reports.
    delivered = log_actions(sessions, "notification.")
    assert [(a, o, d["target"], d["notification"]) for a, o, d in delivered] == [
        ("notification.delivered", "success", "soc", "incident.opened"),
        ("notification.delivered", "success", "soc", "incident.resolved"),
    ]
    with session_scope(sessions) as session:
        (row,) = status(session)
    assert row["depth"] == 0 and row["delivered"] == 2


def test_pagerduty_follows_the_incident_with_one_dedup_key(
    client: TestClient, sessions: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("PD_KEY", "R0UT1NGKEY0000000000000000000000")
    with receiver(status=202) as pd:
        targets = load_targets(
            write_targets(
                tmp_path,
                f"targets:\n  - name: pd\n    type: pagerduty\n    url: {pd.url}\n"
                "    routing_key_env: PD_KEY\n    min_severity: high\n",
            )
        )
        low = open_incident(client, title="noise", severity="low")
        incident = open_incident(client, title="LLMjacking", severity="critical")
        resolve(client, incident)
        assert patch(client, low, status="acknowledged").status_code == 200
        drain(Dispatcher(targets=targets, base_url=None), sessions)
    events = pd.bodies()
    assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in events} == {incident["id"]}
    assert {e["routing_key"] for e in events} == {"R0UT1NGKEY0000000000000000000000"}
    trigger = events[0]["payload"]
    assert trigger["severity"] == "critical" and trigger["source"] == "custody"
    assert trigger["summary"].startswith(f"{incident['id']} opened: LLMjacking")
    assert "payload" not in events[1]  # acknowledge and resolve carry only the key


def test_slack_block_kit_message(
    client: TestClient, sessions: Any, hook: Receiver, tmp_path: Path
) -> None:
    targets = load_targets(
        write_targets(tmp_path, f"targets:\n  - name: chat\n    type: slack\n    url: {hook.url}\n")
    )
    incident = open_incident(client, title="<!channel> look", severity="medium")
    drain(Dispatcher(targets=targets, base_url="https://custody.example"), sessions)
    (message,) = hook.bodies()
    assert message["blocks"][0]["type"] == "header"
    assert message["blocks"][0]["text"]["type"] == "plain_text"
    fields = {f["text"].split("\n")[0]: f["text"] for f in message["blocks"][1]["fields"]}
    assert fields["*Severity*"] == "*Severity*\nmedium"
    assert "<!channel>" not in message["text"]  # user text cannot ping the channel
    assert f"https://custody.example/v1/incidents/{incident['id']}" in str(message["blocks"][2])


def test_email_over_smtp(client: TestClient, sessions: Any, tmp_path: Path) -> None:
    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    with smtp_server(Handler()) as port:
        targets = load_targets(
            write_targets(
                tmp_path,
                "targets:\n  - name: mail\n    type: smtp\n    host: 127.0.0.1\n"
                f"    port: {port}\n    starttls: false\n    from: custody@example.com\n"
                "    to: [soc@example.com, oncall@example.com]\n",
            )
        )
        incident = open_incident(client, title="Guardrail deleted", severity="high")
        drain(Dispatcher(targets=targets, base_url=None), sessions)
    (envelope,) = received
    assert envelope.rcpt_tos == ["soc@example.com", "oncall@example.com"]
    text = envelope.content.decode()
    assert f"Subject: [Custody] {incident['id']} opened: Guardrail deleted (high)" in text


def test_dead_target_retries_in_order_and_never_blocks_others(
    client: TestClient, sessions: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SOC_SECRET", SECRET)
    clock = Clock()
    with receiver() as flaky, receiver() as healthy:
        flaky.fail_with = 503
        targets = load_targets(
            write_targets(
                tmp_path,
                f"targets:\n  - name: flaky\n    type: webhook\n    url: {flaky.url}\n"
                "    secret_env: SOC_SECRET\n"
                f"  - name: healthy\n    type: webhook\n    url: {healthy.url}\n"
                "    secret_env: SOC_SECRET\n",
            )
        )
        dispatcher = Dispatcher(targets=targets, clock=clock, backoff=10, max_backoff=60)
        opened = [open_incident(client, title=f"i{n}", severity="high")["id"] for n in range(3)]
        drain(dispatcher, sessions)
        # Incidents keep changing while the target is down: nothing waits for it.
        opened.append(open_incident(client, title="i3", severity="high")["id"])
        drain(dispatcher, sessions)  # still inside the backoff: no new attempt
        assert [b["incident"]["id"] for b in healthy.bodies()] == opened
        assert flaky.requests == []
        failures = log_actions(sessions, "notification.failed")
        assert len(failures) == 1 and failures[0][2]["detail"].startswith("HTTP 503")

        flaky.fail_with = None
        clock.now += 11
        drain(dispatcher, sessions)
        assert [b["incident"]["id"] for b in flaky.bodies()] == opened


def test_gives_up_after_max_attempts_and_says_so(
    client: TestClient, sessions: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SOC_SECRET", SECRET)
    clock = Clock()
    with receiver() as broken:
        broken.fail_with = 400
        targets = load_targets(
            write_targets(
                tmp_path,
                f"targets:\n  - name: broken\n    type: webhook\n    url: {broken.url}\n"
                "    secret_env: SOC_SECRET\n",
            )
        )
        dispatcher = Dispatcher(targets=targets, clock=clock, max_attempts=3, backoff=1)
        open_incident(client, title="a", severity="high")
        for _ in range(5):
            drain(dispatcher, sessions)
            clock.now += 100
    failures = log_actions(sessions, "notification.failed")
    assert [f[2]["attempt"] for f in failures] == [1, 2, 3]
    assert [f[2]["gave_up"] for f in failures] == [False, False, True]
    with session_scope(sessions) as session:
        (row,) = status(session)
    assert row["failed"] == 1 and row["depth"] == 0


def test_rolled_back_change_notifies_nobody(client: TestClient, sessions: Any) -> None:
    incident = open_incident(client, title="x", severity="high")
    refused = patch(client, incident, status="closed")  # open -> closed is not allowed
    assert refused.status_code == 409
    with session_scope(sessions) as session:
        types = session.scalars(select(OutboxRow.type).order_by(OutboxRow.id)).all()
        assert session.scalar(select(func.count()).select_from(OutboxRow)) == 1
    assert types == ["incident.opened"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("targets: [{name: a, type: fax, url: x}]", "targets.0"),
        ("targets: [{name: a, type: webhook, url: x}]", "secret_env"),
        ("targets: [{name: a, type: webhook, url: x, secret_env: NOPE_NOT_SET}]", "NOPE_NOT_SET"),
        ("targets: [{name: a, type: slack, url: x, colour: red}]", "colour"),
        ("targets: [{name: a, type: slack, url: x}, {name: a, type: slack, url: y}]", "unique"),
        ("targets: [unclosed", "YAML"),
    ],
)
def test_bad_targets_file_names_the_problem(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(TargetsFileError, match=fragment):
        load_targets(write_targets(tmp_path, text))
