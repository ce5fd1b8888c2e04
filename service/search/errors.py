"""Errors of the search domain."""

from __future__ import annotations

from service.errors import ServiceError


class SearchUnavailable(ServiceError):
    """The search backend cannot answer now; ingest and /v1/events are unaffected."""

    status = 503
    title = "Search unavailable"
