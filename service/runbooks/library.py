"""Runbook templates loaded once per directory, reloaded only when a file changes."""

from __future__ import annotations

import threading
from pathlib import Path

from service.logging import get_logger
from service.runbooks.loader import load_dir, runbook_files
from service.runbooks.schemas import RunbookTemplate

log = get_logger(__name__)
_lock = threading.Lock()
_cache: dict[Path, tuple[tuple[tuple[str, int, int], ...], list[RunbookTemplate]]] = {}


def _fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    # A stat per file is cheap next to parsing and sandbox-checking every template.
    out = []
    for path in runbook_files(directory):
        stat = path.stat()
        out.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(out)


def templates(directory: Path | str) -> list[RunbookTemplate]:
    """The valid templates in `directory` (invalid files are logged and left out)."""
    key = Path(directory).resolve()
    fingerprint = _fingerprint(key) if key.is_dir() else ()
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
    loaded, problems = load_dir(key) if key.is_dir() else ([], [])
    for problem in problems:
        log.warning("runbooks.invalid", problem=str(problem))
    with _lock:
        _cache[key] = (fingerprint, loaded)
    return loaded


def find(directory: Path | str, runbook_id: str) -> RunbookTemplate | None:
    return next((t for t in templates(directory) if t.id == runbook_id), None)
