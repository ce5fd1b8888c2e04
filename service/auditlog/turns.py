"""How many ingest bodies one server process works on at once."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from sqlalchemy import Engine

from service.config import Settings


def ingest_slots(settings: Settings, engine: Engine) -> AbstractContextManager[Any]:
    """What an ingest route (`POST /v1/events`, the OTLP receiver) holds while it parses,
    chains and commits a body.

    On SQLite the default is one at a time: a process's threads share one GIL and one
    write lock, and while one thread held the lock it queued for the GIL behind others
    parsing their bodies (taking turns stored 10-15% more events per second). On
    PostgreSQL, where COPY and commit run in the server's processes, no limit (turns
    stored 7-9% fewer). `bench/ingest.py --concurrency N` measures both.
    """
    limit = settings.ingest_concurrency
    if limit is None and engine.dialect.name == "sqlite":
        limit = 1
    return threading.BoundedSemaphore(limit) if limit else nullcontext()
