"""An httpx client configured from CUSTODY_URL and CUSTODY_TOKEN."""

from __future__ import annotations

import os
from typing import Any

import httpx


class ClientConfigError(RuntimeError):
    """CUSTODY_URL or CUSTODY_TOKEN is missing."""


def api_client(
    url: str | None = None, token: str | None = None, *, timeout: float = 30.0
) -> httpx.Client:
    url = url or os.environ.get("CUSTODY_URL")
    token = token or os.environ.get("CUSTODY_TOKEN")
    if not url:
        raise ClientConfigError("Set CUSTODY_URL to the server, e.g. http://127.0.0.1:8000")
    if not token:
        raise ClientConfigError("Set CUSTODY_TOKEN to an API token (custody token create)")
    return httpx.Client(
        base_url=url.rstrip("/"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


def problem_message(response: httpx.Response) -> str:
    """A one-line description of an error response (problem+json or not)."""
    try:
        body: Any = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    detail = body.get("detail") if isinstance(body, dict) else None
    return f"HTTP {response.status_code}: {detail or body}"
