"""What each kind of target receives, built from an outbox payload.

Formats follow the providers' documentation: Standard Webhooks (signed generic webhooks),
Slack incoming webhooks with Block Kit, PagerDuty Events API v2, and plain email.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from email.message import EmailMessage
from typing import Any

import orjson

PAGERDUTY_SEVERITY = {
    "critical": "critical",
    "high": "error",
    "medium": "warning",
    "low": "info",
    "info": "info",
}
SLACK_EMOJI = {
    "critical": ":red_circle:",
    "high": ":large_orange_circle:",
    "medium": ":large_yellow_circle:",
    "low": ":large_blue_circle:",
    "info": ":white_circle:",
}
VERB = {
    "incident.opened": "opened",
    "incident.acknowledged": "acknowledged",
    "incident.status_changed": "changed status",
    "incident.resolved": "resolved",
    "incident.escalated": "escalated",
    "incident.sla_breached": "breached its SLA",
}


def summary(payload: dict[str, Any]) -> str:
    incident = payload["incident"]
    verb = VERB.get(payload["type"], payload["type"])
    if payload["type"] == "incident.status_changed":
        verb = f"is now {incident['status']}"
    return f"{incident['id']} {verb}: {incident['title']} ({incident['severity']})"


def incident_url(base_url: str | None, incident_id: str) -> str | None:
    return f"{base_url.rstrip('/')}/v1/incidents/{incident_id}" if base_url else None


# Standard Webhooks -------------------------------------------------------------------


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (`whsec_` + base64), or the raw text."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def webhook_request(
    payload: dict[str, Any], *, msg_id: str, timestamp: int, secret: str
) -> tuple[bytes, dict[str, str]]:
    """Body and headers: `webhook-signature` is `v1,` + base64 HMAC-SHA256 over
    `{msg_id}.{timestamp}.{body}`; `webhook-id` stays the same on every retry so the
    receiver can drop duplicates."""
    body = orjson.dumps(payload)
    signed = f"{msg_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(
        hmac.new(webhook_key(secret), signed, hashlib.sha256).digest()
    ).decode()
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
    }
    return body, headers


# Slack ---------------------------------------------------------------------------------


def _slack_text(value: Any) -> str:
    # Slack mrkdwn treats &, < and > as control characters; user text must not link or ping.
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(payload: dict[str, Any], *, base_url: str | None) -> dict[str, Any]:
    incident = payload["incident"]
    group = ", ".join(f"{k}={v}" for k, v in incident["group"].items()) or "-"
    fields = [
        ("Severity", incident["severity"]),
        ("Status", incident["status"]),
        ("Assignee", incident["assignee"] or "unassigned"),
        ("Events", incident["event_count"]),
        ("Entities", group),
        ("Rule", incident["rule_id"] or "manual"),
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": summary(payload)[:150], "emoji": True},
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{name}*\n{_slack_text(value)}"}
                for name, value in fields
            ],
        },
    ]
    url = incident_url(base_url, incident["id"])
    if url:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{url}|Open {incident['id']}>"}],
            }
        )
    emoji = SLACK_EMOJI.get(incident["severity"], "")
    return {"text": f"{emoji} {_slack_text(summary(payload))}", "blocks": blocks}


# PagerDuty -----------------------------------------------------------------------------


def pagerduty_action(payload: dict[str, Any]) -> str | None:
    """trigger / acknowledge / resolve, or None when PagerDuty has nothing to mirror."""
    kind = payload["type"]
    status = payload["incident"]["status"]
    if kind in ("incident.opened", "incident.escalated", "incident.sla_breached"):
        return "trigger"
    if kind == "incident.acknowledged":
        return "acknowledge"
    if kind == "incident.resolved" or status in ("closed", "false_positive", "duplicate"):
        return "resolve"
    return None


def pagerduty_event(
    payload: dict[str, Any], *, routing_key: str, action: str, base_url: str | None
) -> dict[str, Any]:
    incident = payload["incident"]
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": incident["id"],
    }
    if action == "trigger":
        event["payload"] = {
            "summary": summary(payload)[:1024],
            "source": "custody",
            "severity": PAGERDUTY_SEVERITY[incident["severity"]],
            "timestamp": payload["timestamp"],
            "component": incident["rule_id"] or "manual",
            "group": ",".join(f"{k}={v}" for k, v in incident["group"].items())[:255] or None,
            "class": payload["type"],
            "custom_details": incident,
        }
        url = incident_url(base_url, incident["id"])
        if url:
            event["links"] = [{"href": url, "text": f"Custody {incident['id']}"}]
    return event


# Email ---------------------------------------------------------------------------------


def email_message(
    payload: dict[str, Any], *, sender: str, to: tuple[str, ...], base_url: str | None
) -> EmailMessage:
    incident = payload["incident"]
    message = EmailMessage()
    message["Subject"] = f"[Custody] {summary(payload)}".replace("\n", " ")[:200]
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["X-Custody-Incident"] = incident["id"]
    lines = [summary(payload), ""]
    for key in (
        "severity",
        "status",
        "assignee",
        "rule_id",
        "event_count",
        "first_seen",
        "last_seen",
    ):
        lines.append(f"{key}: {incident[key]}")
    for key, value in incident["group"].items():
        lines.append(f"group {key}: {value}")
    url = incident_url(base_url, incident["id"])
    if url:
        lines += ["", url]
    message.set_content("\n".join(lines) + "\n")
    return message
