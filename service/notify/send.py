"""Delivering one outbox payload to one target. Network only: no database here."""

from __future__ import annotations

import smtplib
import time
from dataclasses import dataclass
from typing import Any

import httpx

from service.notify import messages
from service.notify.targets import PagerDutyTarget, SlackTarget, SmtpTarget, Target, WebhookTarget


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    detail: str  # HTTP status or SMTP reply, or the error, for the log record
    retry_after: float | None = None
    skipped: bool = False  # nothing to send for this target (e.g. PagerDuty has no action)


def _http(client: httpx.Client, url: str, *, timeout: float, **kwargs: Any) -> Outcome:
    try:
        response = client.post(url, timeout=timeout, **kwargs)
    except httpx.HTTPError as exc:
        return Outcome(False, f"{type(exc).__name__}: {exc}"[:500])
    if response.is_success:
        return Outcome(True, f"HTTP {response.status_code}")
    retry_after = None
    if response.status_code == 429:
        try:
            retry_after = float(response.headers.get("retry-after", ""))
        except ValueError:
            retry_after = None
    return Outcome(False, f"HTTP {response.status_code}: {response.text[:300]}", retry_after)


def deliver(
    target: Target,
    payload: dict[str, Any],
    *,
    msg_id: str,
    client: httpx.Client,
    base_url: str | None,
) -> Outcome:
    if isinstance(target, WebhookTarget):
        assert target.secret is not None  # resolved when the file was loaded
        body, headers = messages.webhook_request(
            payload, msg_id=msg_id, timestamp=int(time.time()), secret=target.secret
        )
        return _http(
            client, target.url, timeout=target.timeout_seconds, content=body, headers=headers
        )
    if isinstance(target, SlackTarget):
        assert target.url is not None
        message = messages.slack_message(payload, base_url=base_url)
        return _http(client, target.url, timeout=target.timeout_seconds, json=message)
    if isinstance(target, PagerDutyTarget):
        action = messages.pagerduty_action(payload)
        if action is None:
            return Outcome(True, "nothing to mirror", skipped=True)
        assert target.routing_key is not None
        event = messages.pagerduty_event(
            payload, routing_key=target.routing_key, action=action, base_url=base_url
        )
        return _http(client, target.url, timeout=target.timeout_seconds, json=event)
    if isinstance(target, SmtpTarget):
        return _smtp(target, payload, base_url=base_url)
    raise TypeError(f"unknown target type {type(target).__name__}")


def _smtp(target: SmtpTarget, payload: dict[str, Any], *, base_url: str | None) -> Outcome:
    message = messages.email_message(payload, sender=target.sender, to=target.to, base_url=base_url)
    try:
        with smtplib.SMTP(target.host, target.port, timeout=target.timeout_seconds) as smtp:
            if target.starttls:
                smtp.starttls()
            if target.username:
                smtp.login(target.username, target.password or "")
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome(False, f"{type(exc).__name__}: {exc}"[:500])
    if refused:
        return Outcome(False, f"recipients refused: {sorted(refused)}")
    return Outcome(True, f"SMTP accepted for {len(target.to)} recipient(s)")
