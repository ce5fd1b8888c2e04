"""Notification targets, read from a YAML file (`CUSTODY_NOTIFY_TARGETS_FILE`).

```yaml
targets:
  - name: soc-webhook            # unique; names the cursor and the log records
    type: webhook                # webhook | slack | pagerduty | smtp
    url: https://hooks.example/custody
    secret_env: SOC_WEBHOOK_SECRET   # Standard Webhooks secret (whsec_...), from the environment
    min_severity: medium         # deliver only incidents at least this severe
    events: [incident.opened, incident.resolved]   # default: see DEFAULT_EVENTS
```
Secrets are never written in the file itself: every secret field has an `_env` form
naming the environment variable that holds it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from service.incidents.schemas import Severity

EVENT_TYPES = (
    "incident.opened",
    "incident.acknowledged",
    "incident.status_changed",
    "incident.resolved",
    "incident.escalated",
    "incident.sla_breached",
)
# What a target gets unless it lists `events`: the changes someone must act on.
DEFAULT_EVENTS = (
    "incident.opened",
    "incident.escalated",
    "incident.sla_breached",
    "incident.resolved",
)
# PagerDuty mirrors the incident's state, so it needs every status change.
PAGERDUTY_EVENTS = (
    "incident.opened",
    "incident.acknowledged",
    "incident.status_changed",
    "incident.resolved",
)
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

EventType = Literal[
    "incident.opened",
    "incident.acknowledged",
    "incident.status_changed",
    "incident.resolved",
    "incident.escalated",
    "incident.sla_breached",
]


class TargetsFileError(ValueError):
    """The targets file is unreadable or invalid; the message names the file and field."""


def _secret(value: str | None, env: str | None, what: str) -> str | None:
    if env is None:
        return value
    found = os.environ.get(env)
    if not found:
        raise ValueError(f"{what}_env names {env}, which is not set in the environment")
    return found


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]
    min_severity: Severity = Severity.INFO
    events: tuple[EventType, ...] | None = None
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    def default_events(self) -> tuple[str, ...]:
        return DEFAULT_EVENTS

    def wants(self, *, type: str, severity: str) -> bool:
        events = self.events if self.events is not None else self.default_events()
        return type in events and SEVERITY_RANK[severity] >= SEVERITY_RANK[self.min_severity]


class WebhookTarget(_Target):
    """A generic HTTPS endpoint, signed per the Standard Webhooks specification."""

    type: Literal["webhook"]
    url: str
    secret: str | None = None
    secret_env: str | None = None

    @model_validator(mode="after")
    def _resolve(self) -> WebhookTarget:
        secret = _secret(self.secret, self.secret_env, "secret")
        if not secret:
            raise ValueError("a webhook target needs secret_env (a whsec_... signing secret)")
        object.__setattr__(self, "secret", secret)
        return self


class SlackTarget(_Target):
    """A Slack incoming webhook (its URL is the secret)."""

    type: Literal["slack"]
    url: str | None = None
    url_env: str | None = None

    @model_validator(mode="after")
    def _resolve(self) -> SlackTarget:
        url = _secret(self.url, self.url_env, "url")
        if not url:
            raise ValueError("a slack target needs url or url_env")
        object.__setattr__(self, "url", url)
        return self


class PagerDutyTarget(_Target):
    """PagerDuty Events API v2; `dedup_key` is the incident id, so both stay in step."""

    type: Literal["pagerduty"]
    url: str = "https://events.pagerduty.com/v2/enqueue"
    routing_key: str | None = None
    routing_key_env: str | None = None

    def default_events(self) -> tuple[str, ...]:
        return PAGERDUTY_EVENTS

    @model_validator(mode="after")
    def _resolve(self) -> PagerDutyTarget:
        key = _secret(self.routing_key, self.routing_key_env, "routing_key")
        if not key:
            raise ValueError("a pagerduty target needs routing_key_env")
        object.__setattr__(self, "routing_key", key)
        return self


class SmtpTarget(_Target):
    """Email over SMTP (STARTTLS when `starttls`, login when a username is given)."""

    type: Literal["smtp"]
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password_env: str | None = None
    sender: Annotated[str, Field(alias="from")]
    to: tuple[str, ...] = Field(min_length=1)
    password: str | None = None

    @model_validator(mode="after")
    def _resolve(self) -> SmtpTarget:
        object.__setattr__(self, "password", _secret(None, self.password_env, "password"))
        return self


Target = Annotated[
    WebhookTarget | SlackTarget | PagerDutyTarget | SmtpTarget, Field(discriminator="type")
]


class TargetsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    targets: list[Target] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> TargetsFile:
        names = [t.name for t in self.targets]
        if len(names) != len(set(names)):
            raise ValueError("target names must be unique")
        return self


def load_targets(path: Path | None) -> list[Target]:
    """The configured targets; none when no file is configured."""
    if path is None:
        return []
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return list(TargetsFile.model_validate(data).targets)
    except OSError as exc:
        raise TargetsFileError(f"{path}: cannot read the notification targets: {exc}") from exc
    except yaml.YAMLError as exc:
        raise TargetsFileError(f"{path}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TargetsFileError(f"{path}: {where}: {first['msg']}") from exc
